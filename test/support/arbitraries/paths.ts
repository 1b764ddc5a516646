/**
 * Identifiers and paths as the lexer and parser read them, including keywords, their near-misses,
 * letters outside the BMP and array indexes.
 */
import fc from "fast-check";
import type { PathImage, PathNode } from "../../../src/index.ts";
import { pathNode } from "./nodes.ts";

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
