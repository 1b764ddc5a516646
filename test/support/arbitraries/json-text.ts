/** JSON as text for PostgreSQL, numbers keeping the exact text they are written with. */
import fc from "fast-check";
import { portableNumberTextArb, sqlStringArb } from "./sql-vocabulary.ts";

/** A JSON number written exactly as `text` (e.g. `100.00`, `9007199254740993`, `1e2`). */
export class NumberText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export type JsonText =
  | string
  | boolean
  | null
  | NumberText
  | JsonText[]
  | { readonly [key: string]: JsonText };

/** Serialises a `JsonText` value, numbers as written. */
export function toJsonText(value: JsonText): string {
  if (value instanceof NumberText) return value.text;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(",")}]`;
  const fields = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`);
  return `{${fields.join(",")}}`;
}

/** A PostgreSQL-portable scalar (text form). */
export const textScalarArb: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 4, arbitrary: sqlStringArb },
  { weight: 4, arbitrary: portableNumberTextArb.map((t) => new NumberText(t)) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Any JSON (text form) of PostgreSQL-portable scalars, nested a little. */
export const jsonTextArb: fc.Arbitrary<JsonText> = fc.letrec<{ value: JsonText }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthSize: "small", depthIdentifier: "jsonText", withCrossShrink: true },
    { weight: 4, arbitrary: textScalarArb },
    { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 3 }) },
    {
      weight: 1,
      arbitrary: fc.dictionary(fc.constantFrom("sku", "qty", "tier", "0", "x"), tie("value"), {
        maxKeys: 3,
      }),
    },
  ),
})).value;
