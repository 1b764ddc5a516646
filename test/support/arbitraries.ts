/**
 * fast-check generators shared by the property tests: condition ASTs (src/dsl/ast.ts), change events
 * (src/events/types.ts), change-log rows (as a driver returns them, and as JSON text to insert into
 * PostgreSQL), and the helpers that go with them.
 *
 * Generated ASTs are the ones the parser can produce: every `span` is a placeholder (`NO_SPAN`), so
 * compare them with `stripSpans`. Literal values follow the parser's normalisation (see
 * `numberValueOfText`): safe integers and non-integers are numbers, integers beyond 2^53 written
 * as plain digits are bigints, and `-0` is `0`.
 */
import fc from "fast-check";
import type {
  CallNode,
  ChangeEvent,
  CompareOp,
  EventType,
  Expr,
  FunctionName,
  JsonObject,
  JsonPrimitive,
  JsonValue,
  LiteralNode,
  Operand,
  PathImage,
  PathNode,
  Span,
} from "../../src/index.ts";
import { diffImages, EVENT_TYPES } from "../../src/index.ts";

// ---------------------------------------------------------------------------------------------
// Spans

/** The span every generated node carries; the parser's real spans are dropped by `stripSpans`. */
export const NO_SPAN: Readonly<Span> = Object.freeze({ start: 0, end: 0 });

/** A deep copy of an AST (or anything) without its `span` fields, for structural comparison. */
export function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key !== "span") out[key] = stripSpans(item);
    }
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Identifiers and paths

const KEYWORDS = new Set([
  "and",
  "or",
  "not",
  "in",
  "contains",
  "matches",
  "true",
  "false",
  "null",
]);

/** Whether a single-segment path would lex as a keyword (keywords are case-insensitive). */
export function isKeyword(word: string): boolean {
  return KEYWORDS.has(word.toLowerCase());
}

const ASCII_START = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"];
/** BMP letters (\p{L}: Ll, Lu, Lt, Lo), including ones with unusual case mappings. */
const BMP_LETTERS = ["é", "ß", "Ж", "中", "ǅ", "Ω", "ı", "ſ", "\u212A", "ﬁ", "İ"];
/** Letters outside the BMP (two UTF-16 code units each). */
export const ASTRAL_LETTERS = ["𝒜", "𐐀", "𝔘", "𠀀"];
/** \p{N} characters other than ASCII digits: allowed inside identifiers, never first. */
const OTHER_NUMBERS = ["²", "٣", "Ⅻ", "½"];

const asciiStartArb = fc.constantFrom(...ASCII_START);
const startArb = (astral: boolean): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: asciiStartArb },
    { weight: 2, arbitrary: fc.constantFrom(...BMP_LETTERS) },
    { weight: astral ? 1 : 0, arbitrary: fc.constantFrom(...ASTRAL_LETTERS) },
  );
const partArb = fc.oneof(
  { weight: 8, arbitrary: asciiStartArb },
  { weight: 3, arbitrary: fc.constantFrom(..."0123456789") },
  { weight: 1, arbitrary: fc.constantFrom(...BMP_LETTERS, ...ASTRAL_LETTERS, ...OTHER_NUMBERS) },
);

/**
 * An identifier as the lexer reads one (a letter or `_`, then letters, numbers and `_`), which may
 * be a keyword. `astralStart` lets the first character be a letter outside the BMP.
 */
export function anyIdentifierArb(options: { astralStart?: boolean } = {}): fc.Arbitrary<string> {
  const astral = options.astralStart ?? true;
  return fc.oneof(
    {
      weight: 10,
      arbitrary: fc
        .tuple(startArb(astral), fc.string({ unit: partArb, maxLength: 6 }))
        .map(([h, t]) => h + t),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        // Near-misses of keywords and the names the language gives meaning to.
        "andy",
        "orders",
        "note",
        "NOTE",
        "index",
        "In_",
        "contains_",
        "nulls",
        "True1",
        "data",
        "old",
        "new",
        "OLD",
        "has_field",
        "field_changed",
        "status",
        "total",
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...KEYWORDS, "AND", "Or", "NOT", "True", "NULL", "IN"),
    },
  );
}

/** An identifier that is not a keyword. */
export function identifierArb(options: { astralStart?: boolean } = {}): fc.Arbitrary<string> {
  return anyIdentifierArb(options).filter((word) => !isKeyword(word));
}

/** A path segment after the first: an identifier (keywords too) or an array index. */
export const laterSegmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: anyIdentifierArb() },
  { weight: 1, arbitrary: fc.nat(12).map(String) },
  { weight: 1, arbitrary: fc.constantFrom("007", "00", "4294967296", "99999999999999999999") },
);

export function pathNode(image: PathImage, segments: string[]): PathNode {
  return { kind: "path", image, segments, span: NO_SPAN };
}

/**
 * Paths the parser can produce: `data` paths of 1-3 segments (a single segment is no keyword; a
 * longer one does not start with `old` / `new`), and `old.` / `new.` paths of 1-3 segments.
 * `astralStart` lets a `data` path start with a letter outside the BMP.
 */
export function pathArb(
  options: { images?: readonly PathImage[]; astralStart?: boolean } = {},
): fc.Arbitrary<PathNode> {
  const images = options.images ?? ["data", "old", "new"];
  const parts: fc.WeightedArbitrary<PathNode>[] = [];
  if (images.includes("data")) {
    const first = anyIdentifierArb({ astralStart: options.astralStart ?? false });
    const data = fc
      .tuple(first, fc.array(laterSegmentArb, { maxLength: 2 }))
      .filter(([head, rest]) =>
        rest.length === 0 ? !isKeyword(head) : head !== "old" && head !== "new",
      )
      .map(([head, rest]) => pathNode("data", [head, ...rest]));
    parts.push({ weight: 3, arbitrary: data });
  }
  const others = images.filter((i): i is "old" | "new" => i !== "data");
  if (others.length > 0) {
    const imaged = fc
      .tuple(fc.constantFrom(...others), fc.array(laterSegmentArb, { minLength: 1, maxLength: 3 }))
      .map(([image, segments]) => pathNode(image, segments));
    parts.push({ weight: 2, arbitrary: imaged });
  }
  return fc.oneof(...parts);
}

// ---------------------------------------------------------------------------------------------
// Literals

/**
 * The value the parser gives a JSON number written as `text`: integers beyond the safe range are
 * exact bigints however they are spelled (`1e+21`, `9007199254740993.0`); everything else is a
 * double; `-0` is `0`. (An independent statement of `parseJsonNumber`'s contract, so generators do
 * not depend on the code under test.)
 */
export function numberValueOfText(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
  if (!Number.isInteger(n)) return n;
  const [mantissa = "", exponent = "0"] = text.toLowerCase().split("e");
  const [whole = "", fraction = ""] = mantissa.split(".");
  const digits = BigInt(`${whole}${fraction}`);
  const scale = Number(exponent) - fraction.length;
  if (scale >= 0) return digits * 10n ** BigInt(scale);
  const divisor = 10n ** BigInt(-scale);
  // The double rounded to an integer, but the text's value is not one.
  return digits % divisor === 0n ? digits / divisor : n;
}

/** The literal the parser reads back from `String(n)`. */
export function canonicalNumber(n: number): number | bigint {
  return numberValueOfText(String(n));
}

export function literalNode(value: JsonPrimitive): LiteralNode {
  return { kind: "literal", value, span: NO_SPAN };
}

/** Any string: every code point, quotes and backslashes, and lone surrogates. */
export const anyStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  {
    weight: 4,
    arbitrary: fc.string({
      unit: fc.constantFrom("'", "\\", "a", " ", "\n", "é", "😀", '"', "\t", "\u2028"),
      maxLength: 8,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
      maxLength: 2,
    }),
  },
);

const MIN_UNSAFE = BigInt(Number.MAX_SAFE_INTEGER) + 1n;

/** Integers outside the safe range, as the parser keeps them. */
export const unsafeBigIntArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: MIN_UNSAFE, max: MIN_UNSAFE + 1000n }),
  fc.bigInt({ min: -MIN_UNSAFE - 1000n, max: -MIN_UNSAFE }),
  fc.bigInt({ min: MIN_UNSAFE, max: 10n ** 40n }),
  fc.bigInt({ min: -(10n ** 40n), max: -MIN_UNSAFE }),
);

/** Any number literal value the parser can produce. */
export const anyNumberArb: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(canonicalNumber),
  fc
    .constantFrom(0.1, -0.5, 1.5, 100.25, 1e-7, 1e21, -1e21, 5e-324, Number.MAX_VALUE)
    .map(canonicalNumber),
  unsafeBigIntArb,
);

export const anyLiteralValueArb: fc.Arbitrary<JsonPrimitive> = fc.oneof(
  { weight: 3, arbitrary: anyStringArb },
  { weight: 3, arbitrary: anyNumberArb },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Patterns RE2 accepts whose meaning PostgreSQL's `~` shares (conditionToSql compiles them). */
export const PORTABLE_PATTERNS: readonly string[] = [
  "^a",
  "b$",
  "a.c",
  "[a-c]+",
  "(ab|cd)",
  "x{2,3}",
  "(a|b)+?",
  "^$",
  "^(open|closed)$",
  "[^a]",
  "\\.",
  "a\\nc",
  "it's",
  "o",
];
/** Patterns RE2 accepts that conditionToSql must refuse (no identical PostgreSQL form). */
export const NON_PORTABLE_PATTERNS: readonly string[] = [
  "\\d",
  "\\d+",
  "(?i)ab",
  "^*",
  "$+",
  "\\w",
  "\\bx",
  "[[:alpha:]]",
  "(?s)a",
  "a{300}",
  "\\pL",
];
/** Other valid RE2 patterns: quotes, backslashes and non-ASCII, for the parser and evaluator. */
export const OTHER_PATTERNS: readonly string[] = [
  "",
  "\\\\",
  "\\'",
  "'\\\\'",
  "😀+",
  "日本",
  "\\p{Greek}",
  "(?i)straße",
  "[\\s\\S]",
  "a*?",
];
export const ALL_PATTERNS: readonly string[] = [
  ...PORTABLE_PATTERNS,
  ...NON_PORTABLE_PATTERNS,
  ...OTHER_PATTERNS,
];

// ---------------------------------------------------------------------------------------------
// Conditions

export const COMPARE_OPS: readonly CompareOp[] = ["==", "!=", ">", "<", ">=", "<="];
const ORDERING_OPS: readonly CompareOp[] = [">", "<", ">=", "<="];

export interface ConditionArbOptions {
  /** Paths for operands, subjects and `has_field` (default: `pathArb()`). */
  path?: fc.Arbitrary<PathNode>;
  /** Paths for `field_changed*`, which must read the `data` image (default: data paths). */
  changePath?: fc.Arbitrary<PathNode>;
  /** Literal values (default: `anyLiteralValueArb`). */
  literal?: fc.Arbitrary<JsonPrimitive>;
  /** Number literal values for the ordering operators (default: `anyNumberArb`). */
  number?: fc.Arbitrary<number | bigint>;
  /** `matches` patterns; they must be valid RE2 (default: `ALL_PATTERNS`). */
  pattern?: fc.Arbitrary<string>;
  /** Nesting depth of `&&`, `||` and `!` (default 6). */
  maxDepth?: number;
}

/** Condition ASTs covering every node kind, as the parser could produce them. */
export function conditionArb(options: ConditionArbOptions = {}): fc.Arbitrary<Expr> {
  const path = options.path ?? pathArb();
  const changePath = options.changePath ?? pathArb({ images: ["data"] });
  const literal = (options.literal ?? anyLiteralValueArb).map(literalNode);
  const number = (options.number ?? anyNumberArb).map(literalNode);
  const pattern = options.pattern ?? fc.constantFrom(...ALL_PATTERNS);
  const maxDepth = options.maxDepth ?? 6;

  const operand: fc.Arbitrary<Operand> = fc.oneof(
    { weight: 3, arbitrary: path },
    { weight: 2, arbitrary: literal },
  );
  const numericOperand: fc.Arbitrary<Operand> = fc.oneof(
    { weight: 3, arbitrary: path },
    { weight: 2, arbitrary: number },
  );
  const equality = fc
    .tuple(fc.constantFrom<CompareOp>("==", "!="), operand, operand)
    .map(([op, left, right]): Expr => ({ kind: "compare", op, left, right, span: NO_SPAN }));
  const ordering = fc
    .tuple(fc.constantFrom(...ORDERING_OPS), numericOperand, numericOperand)
    .map(([op, left, right]): Expr => ({ kind: "compare", op, left, right, span: NO_SPAN }));
  const inList = fc
    .tuple(path, fc.array(literal, { minLength: 1, maxLength: 4 }))
    .map(([subject, values]): Expr => ({ kind: "in", subject, values, span: NO_SPAN }));
  const contains = fc
    .tuple(path, literal)
    .map(([subject, value]): Expr => ({ kind: "contains", subject, value, span: NO_SPAN }));
  const matches = fc.tuple(path, pattern).map(
    ([subject, value]): Expr => ({
      kind: "matches",
      subject,
      pattern: { kind: "literal", value, span: NO_SPAN },
      span: NO_SPAN,
    }),
  );
  const call = fc.oneof(
    path.map((field): Expr => ({ kind: "call", name: "has_field", field, span: NO_SPAN })),
    changePath.map(
      (field): Expr => ({ kind: "call", name: "field_changed", field, span: NO_SPAN }),
    ),
    fc
      .tuple(
        fc.constantFrom<FunctionName>("field_changed_to", "field_changed_from"),
        changePath,
        literal,
      )
      .map(([name, field, value]): Expr => {
        const node: CallNode = { kind: "call", name, field, value, span: NO_SPAN };
        return node;
      }),
  );
  const leaf = fc.oneof(
    { weight: 4, arbitrary: equality },
    { weight: 3, arbitrary: ordering },
    { weight: 2, arbitrary: inList },
    { weight: 2, arbitrary: contains },
    { weight: 2, arbitrary: matches },
    { weight: 3, arbitrary: call },
  );
  const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
    expr: fc.oneof(
      { maxDepth, depthSize: "small", depthIdentifier: "condition", withCrossShrink: true },
      { weight: 3, arbitrary: leaf },
      {
        weight: 1,
        arbitrary: tie("expr").map((operand): Expr => ({ kind: "not", operand, span: NO_SPAN })),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom("and" as const, "or" as const), tie("expr"), tie("expr"))
          .map(([kind, left, right]): Expr => ({ kind, left, right, span: NO_SPAN })),
      },
    ),
  }));
  return expr;
}

/** Every node of an AST, depth first. */
export function* walkExpr(expr: Expr): Generator<Expr> {
  yield expr;
  if (expr.kind === "and" || expr.kind === "or") {
    yield* walkExpr(expr.left);
    yield* walkExpr(expr.right);
  } else if (expr.kind === "not") {
    yield* walkExpr(expr.operand);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON values and change events (in memory)

/** Keys conditions in the tests name, so generated paths often find something. */
export const FIELD_KEYS = ["status", "total", "price", "tags", "customer", "items", "note", "flag"];
const ODD_KEYS = [
  "__proto__",
  "constructor",
  "toString",
  "length",
  "0",
  "1",
  "",
  "a b",
  "ü",
  "tier",
];

const jsonKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELD_KEYS) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);

/** Numbers as events may carry them: anything JSON gives, plus NaN, infinities and -0. */
const eventNumberArb: fc.Arbitrary<number | bigint> = fc.oneof(
  { weight: 6, arbitrary: anyNumberArb },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity, -0) },
);

const jsonScalarArb: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: anyStringArb },
  { weight: 2, arbitrary: fc.constantFrom("open", "closed", "ab", "a\nc", "") },
  { weight: 3, arbitrary: eventNumberArb },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

function objectOf(entries: [string, JsonValue][]): JsonObject {
  // Object.fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(entries) as JsonObject;
}

/** Arbitrary JSON (as events carry it: bigints beyond 2^53), nested a few levels. */
export const jsonValueArb: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: "small", depthIdentifier: "json", withCrossShrink: true },
    { weight: 4, arbitrary: jsonScalarArb },
    { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.tuple(jsonKeyArb, tie("value")), { selector: ([k]) => k, maxLength: 4 })
        .map(objectOf),
    },
  ),
})).value;

/** A row image: an object with some of the usual fields and a few others. */
export const jsonObjectArb: fc.Arbitrary<JsonObject> = fc
  .uniqueArray(fc.tuple(jsonKeyArb, jsonValueArb), { selector: ([k]) => k, maxLength: 6 })
  .map(objectOf);

const OP_BY_TYPE = { INSERT: "c", UPDATE: "u", DELETE: "d", CUSTOM: "r" } as const;

/** Change events of every type, with any (or no) images. */
export const changeEventArb: fc.Arbitrary<ChangeEvent> = fc
  .record({
    id: fc.uuid(),
    sequence: fc.option(fc.bigInt({ min: 1n, max: 10n ** 12n }).map(String)),
    entity_type: fc.constantFrom("Order", "Customer"),
    entity_id: fc.option(fc.string({ maxLength: 6 })),
    event_type: fc.constantFrom<EventType>(...EVENT_TYPES),
    before: fc.option(jsonObjectArb, { freq: 3 }),
    after: fc.option(jsonObjectArb, { freq: 3 }),
    tenant_id: fc.option(fc.constantFrom("1", "42")),
    transaction_id: fc.option(fc.constantFrom("7", "8")),
  })
  .map(
    (e): ChangeEvent => ({
      ...e,
      op: OP_BY_TYPE[e.event_type],
      changes:
        e.event_type === "UPDATE" && e.before && e.after ? diffImages(e.before, e.after) : null,
      timestamp: "2026-01-01T00:00:00.000Z",
      source: null,
    }),
  );

// ---------------------------------------------------------------------------------------------
// Change-log rows as a driver hands them over (for normalizeChangeEvent)

const MODIFICATION_TYPES = ["INSERT", "UPDATE", "DELETE", "CUSTOM", "READ", "NOOP"] as const;

export const modificationTypeArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      // Updates are where field_changed* and the two images matter most.
      { weight: 4, arbitrary: fc.constant("UPDATE") },
      { weight: 2, arbitrary: fc.constantFrom("INSERT", "DELETE") },
      { weight: 1, arbitrary: fc.constantFrom(...MODIFICATION_TYPES) },
    ),
    fc.constantFrom("upper", "lower", "title"),
  )
  .map(([t, style]) =>
    style === "upper" ? t : style === "lower" ? t.toLowerCase() : t[0] + t.slice(1).toLowerCase(),
  );

/** What `JSON.stringify` makes of JSON with bigints (as digits). */
export function stringifyJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "bigint") return v;
    marks.push(v.toString());
    return `\u0000bigint${marks.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? "");
}

/** Rows close to valid: every column sometimes right, sometimes wrong in some way. */
export const nearValidRowArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    id: fc.oneof({ weight: 5, arbitrary: fc.uuid() }, fc.constant(""), fc.anything()),
    pk_entity_change_log: fc.oneof(
      fc.bigInt({ min: 1n, max: 10n ** 20n }),
      fc.nat().map(String),
      fc.integer(),
      fc.constant(null),
      fc.anything(),
    ),
    object_type: fc.oneof(
      { weight: 5, arbitrary: fc.constant("Order") },
      fc.constant(""),
      fc.anything(),
    ),
    modification_type: fc.oneof(
      { weight: 5, arbitrary: modificationTypeArb },
      fc.string({ maxLength: 8 }),
      fc.anything(),
    ),
    object_id: fc.oneof(fc.string(), fc.integer(), fc.bigInt(), fc.constant(null), fc.anything()),
    object_data: fc.oneof(
      { weight: 3, arbitrary: jsonObjectArb.map(stringifyJson) },
      { weight: 3, arbitrary: jsonObjectArb },
      {
        weight: 3,
        arbitrary: fc
          .record(
            {
              op: fc.oneof(fc.constantFrom("c", "u", "d", "r"), fc.anything()),
              before: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
              after: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
              source: fc.oneof(fc.constant(null), jsonObjectArb, jsonValueArb),
            },
            { requiredKeys: [] },
          )
          .chain((envelope) => fc.constantFrom<unknown>(envelope, stringifyJson(envelope))),
      },
      fc.constantFrom("null", "[]", "1", '"x"', "{", "", " ", '{"a":12345678901234567890', "NaN"),
      fc.constantFrom(
        '{"a":1,"a":2}',
        '{"a":12345678901234567890,"a":1}',
        '{"__proto__":{"op":"c"}}',
      ),
      jsonValueArb,
      fc.anything(),
    ),
    object_data_before: fc.oneof(
      fc.constant(null),
      jsonObjectArb.map(stringifyJson),
      jsonObjectArb,
      fc.constantFrom("null", "[1]", "{", "12345678901234567890"),
      fc.anything(),
    ),
    fk_customer_org: fc.oneof(fc.constant(null), fc.bigInt(), fc.nat().map(String), fc.anything()),
    tenant_id: fc.oneof(fc.constant(null), fc.string(), fc.anything()),
    created_at: fc.oneof(
      fc.date(),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(
        "2026-11-27 04:49:40.123456+00",
        "2026-11-27 04:49:40+05:30",
        "not a date",
        "",
        "275760-09-13",
        "+275760-09-13T00:00:00.001Z",
      ),
      fc.anything(),
    ),
    transaction_id: fc.oneof(fc.constant(null), fc.bigInt(), fc.string(), fc.anything()),
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------
// Rows as JSON text for PostgreSQL (numbers keep the exact text they are written with)

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

/**
 * Number texts on which a JavaScript double and PostgreSQL's numeric agree: integers of any size
 * written as plain digits, and decimals of at most 12 significant digits between 1e-20 and 1e15.
 */
export const portableNumberTextArb: fc.Arbitrary<string> = fc.oneof(
  {
    // Few values, so rows and conditions often name the same number (in different spellings).
    weight: 8,
    arbitrary: fc.constantFrom(
      "0",
      "1",
      "-1",
      "100",
      "100.00",
      "100.0",
      "1e2",
      "99.99",
      "1.5",
      "0.1",
      "0.10",
      "9007199254740993",
      "12345678901234567890",
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "-0",
      "7",
      "10",
      "99",
      "101",
      "-100",
      "1000",
      "9007199254740991",
      "9007199254740992",
      "-9007199254740993",
      "100000000000000000000000",
      "1.0E+2",
      "100.5",
      "0.5",
      "-0.5",
      "2.50",
      "0.0",
      "-0.0",
      "1.5e-7",
      "3.14159265358",
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 200 }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: -999_999, max: 999_999 }), fc.integer({ min: -14, max: 8 }))
      .map(([mantissa, exponent]) => `${mantissa}e${exponent}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: -99_999_999, max: 99_999_999 }), fc.integer({ min: 1, max: 4 }))
      .map(([units, scale]) => {
        const sign = units < 0 ? "-" : "";
        const digits = String(Math.abs(units)).padStart(scale + 1, "0");
        return `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
      }),
  },
);

/** Strings PostgreSQL can store (no NUL, no lone surrogate) that the portable patterns care about. */
export const SQL_STRINGS: readonly string[] = [
  "open",
  "closed",
  "OPEN",
  "Open ",
  "ab",
  "AB",
  "aB",
  "xabx",
  "cd",
  "abc",
  "a\nc",
  "a.c",
  "xx",
  "xxx",
  "b",
  "ab\n",
  "",
  "a",
  "it's",
  "back\\slash",
  "gold",
  "silver",
  "100",
  "é",
  "日本",
  "😀",
];

/** The strings rows' fields usually hold. */
export const COMMON_STRINGS: readonly string[] = [
  "open",
  "closed",
  "OPEN",
  "ab",
  "xabx",
  "a\nc",
  "cd",
  "gold",
  "silver",
  "x",
];

export const sqlStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...COMMON_STRINGS) },
  { weight: 3, arbitrary: fc.constantFrom(...SQL_STRINGS) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: "binary", maxLength: 6 }).map((s) => s.replaceAll("\u0000", "")),
  },
);

/** A literal in a condition for the SQL tests: the same strings and numbers the rows hold. */
export const sqlLiteralArb: fc.Arbitrary<JsonPrimitive> = fc.oneof(
  { weight: 4, arbitrary: sqlStringArb },
  { weight: 4, arbitrary: portableNumberTextArb.map(numberValueOfText) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Field paths the SQL tests' rows fill often, sometimes not at all. */
export const FIELD_VOCABULARY: readonly (readonly string[])[] = [
  ["status"],
  ["total"],
  ["price"],
  ["tags"],
  ["tags", "0"],
  ["customer"],
  ["customer", "tier"],
  ["items"],
  ["items", "0"],
  ["items", "0", "sku"],
  ["items", "1", "qty"],
  ["items", "4294967296", "sku"],
  ["tags", "01"],
  ["op"],
  ["note"],
  ["flag"],
  ["missing"],
];

export function vocabularyPathArb(images: readonly PathImage[] = ["data", "old", "new"]) {
  return fc
    .tuple(
      fc.constantFrom(...images, ...(images.includes("data") ? (["data", "data"] as const) : [])),
      fc.constantFrom(...FIELD_VOCABULARY),
    )
    .map(([image, segments]) => pathNode(image, [...segments]));
}

const textScalarArb: fc.Arbitrary<JsonText> = fc.oneof(
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

const CANONICAL: Record<string, EventType> = {
  INSERT: "INSERT",
  UPDATE: "UPDATE",
  DELETE: "DELETE",
  CUSTOM: "CUSTOM",
  READ: "CUSTOM",
  NOOP: "CUSTOM",
};

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
