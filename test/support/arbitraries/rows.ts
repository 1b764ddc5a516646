/**
 * Change-log rows to insert into PostgreSQL, as text: entity images drawn from the SQL vocabulary,
 * before/after pairs, and whole rows in the Debezium-envelope and producer forms.
 */
import fc from "fast-check";
import { FIELD_KEYS } from "./json.ts";
import { type JsonText, jsonTextArb, NumberText, textScalarArb, toJsonText } from "./json-text.ts";
import { CANONICAL, modificationTypeArb, OP_BY_TYPE } from "./modification-types.ts";
import { COMMON_STRINGS, portableNumberTextArb, sqlStringArb } from "./sql-vocabulary.ts";

const usually = <T>(typical: fc.Arbitrary<T>): fc.Arbitrary<T | JsonText> =>
  fc.oneof({ weight: 4, arbitrary: typical }, { weight: 1, arbitrary: jsonTextArb });

const numberTextArb = portableNumberTextArb.map((t) => new NumberText(t));

const entityFieldsArb: fc.Arbitrary<Record<string, JsonText>> = fc.record(
  {
    status: usually(fc.constantFrom(...COMMON_STRINGS)),
    total: usually(numberTextArb),
    price: usually(numberTextArb),
    tags: usually(fc.array(textScalarArb, { maxLength: 4 })),
    customer: usually(
      fc.record(
        { tier: usually(fc.constantFrom("gold", "silver", "ab")), name: sqlStringArb },
        { requiredKeys: [] },
      ),
    ),
    items: usually(
      fc.array(fc.record({ sku: sqlStringArb, qty: numberTextArb }, { requiredKeys: [] }), {
        maxLength: 3,
      }),
    ),
    note: fc.oneof(fc.constant(null), sqlStringArb),
    flag: usually(fc.boolean()),
  },
  { requiredKeys: [] },
);

/**
 * An entity row image (text form): the vocabulary's fields, each present or not. Sometimes it also
 * has `op` and `before` columns: with no `after`, that is still a row, not a Debezium envelope.
 */
export const entityTextArb: fc.Arbitrary<Record<string, JsonText>> = fc
  .tuple(
    entityFieldsArb,
    fc.option(
      fc.record(
        { op: fc.constantFrom("c", "u", "d", "r", "x"), before: jsonTextArb },
        { requiredKeys: ["op"] },
      ),
      { freq: 6 },
    ),
  )
  .map(([fields, lookalike]) => (lookalike ? { ...lookalike, ...fields } : fields));

/**
 * Before/after images of one change: the same row, a row with some fields taken from another
 * (so some fields change and some do not), or two unrelated rows.
 */
export const imagePairArb: fc.Arbitrary<[Record<string, JsonText>, Record<string, JsonText>]> = fc
  .tuple(
    entityTextArb,
    entityTextArb,
    fc.array(fc.boolean(), { minLength: FIELD_KEYS.length, maxLength: FIELD_KEYS.length }),
    fc.constantFrom("same", "mixed", "mixed", "unrelated"),
  )
  .map(([a, b, picks, mode]) => {
    if (mode === "same") return [a, a];
    if (mode === "unrelated") return [a, b];
    const after: Record<string, JsonText> = {};
    FIELD_KEYS.forEach((key, i) => {
      const from = picks[i] ? a : b;
      const value = from[key];
      if (value !== undefined) after[key] = value;
    });
    return [a, after];
  });

/** A change-log row to insert: its columns as text (JSONB columns as JSON text), null for NULL. */
export interface ChangeLogRowText {
  form: "envelope" | "producer";
  modification_type: string;
  object_type: string;
  object_id: string | null;
  object_data: string | null;
  object_data_before: string | null;
  fk_customer_org: string | null;
}

/** Absent (SQL NULL), JSON `null`, or the image. */
type Slot = "image" | "sql-null" | "json-null";
const slotArb = (imageWeight: number): fc.Arbitrary<Slot> =>
  fc.oneof(
    { weight: imageWeight, arbitrary: fc.constant<Slot>("image") },
    { weight: 1, arbitrary: fc.constant<Slot>("sql-null") },
    { weight: 1, arbitrary: fc.constant<Slot>("json-null") },
  );

function slotText(slot: Slot, image: JsonText): string | null {
  return slot === "image" ? toJsonText(image) : slot === "json-null" ? "null" : null;
}

/**
 * Valid change-log rows in both forms: a Debezium envelope in object_data (op consistent with
 * modification_type), or the FraiseQL producer form (after-image in object_data, pre-image in
 * object_data_before). Either image may be missing, in every combination.
 */
export const changeLogRowTextArb: fc.Arbitrary<ChangeLogRowText> = fc
  .record({
    form: fc.constantFrom<ChangeLogRowText["form"]>("envelope", "producer"),
    modification_type: modificationTypeArb,
    images: imagePairArb,
    beforeSlot: slotArb(3),
    afterSlot: slotArb(4),
    source: fc.constantFrom("absent", "null", "object"),
    strayPreImage: fc.boolean(),
    object_id: fc.option(fc.constantFrom("1", "abc", "9007199254740993")),
    fk_customer_org: fc.option(fc.constantFrom("1", "42", "9223372036854775807")),
  })
  .map((r): ChangeLogRowText => {
    const [before, after] = r.images;
    const base = {
      modification_type: r.modification_type,
      object_type: "Order",
      object_id: r.object_id,
      fk_customer_org: r.fk_customer_org,
    };
    if (r.form === "producer") {
      return {
        form: "producer",
        ...base,
        object_data: slotText(r.afterSlot, after),
        object_data_before: slotText(r.beforeSlot, before),
      };
    }
    const type = CANONICAL[r.modification_type.toUpperCase()] ?? "CUSTOM";
    const envelope: Record<string, JsonText> = {
      op: OP_BY_TYPE[type],
      before: r.beforeSlot === "image" ? before : null,
      after: r.afterSlot === "image" ? after : null,
    };
    if (r.source === "null") envelope.source = null;
    if (r.source === "object") {
      envelope.source = { txid: new NumberText("123"), table: "tb_order" };
    }
    return {
      form: "envelope",
      ...base,
      object_data: toJsonText(envelope),
      // The envelope decides; a pre-image column next to it is ignored by both readers.
      object_data_before: r.strayPreImage ? toJsonText({ status: "stray" }) : null,
    };
  });
