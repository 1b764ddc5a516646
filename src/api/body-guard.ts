import type { Context, MiddlewareHandler } from "hono";
import { MAX_JSON_DEPTH } from "./limits.ts";
import { validationProblem } from "./problem.ts";

/** The media types Hono's JSON validator reads. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** NUL, or a UTF-16 surrogate outside a pair: text PostgreSQL stores neither as text nor jsonb. */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const UNSTORABLE_MESSAGE =
  "contains U+0000 or an unpaired UTF-16 surrogate, which cannot be stored";

/** Whether JSON `text` nests arrays and objects deeper than `max` (strings are skipped). */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
  return false;
}

interface Frame {
  value: unknown;
  key: string | undefined;
  parent: Frame | undefined;
}

function pathOf(frame: Frame): string[] {
  const path: string[] = [];
  for (let at: Frame | undefined = frame; at?.key !== undefined; at = at.parent) {
    path.unshift(at.key);
  }
  return path;
}

/**
 * The path of the first string (a value or a key) in `value` that PostgreSQL cannot store, or
 * undefined. Walks without recursion.
 */
export function unstorableTextPath(value: unknown): string[] | undefined {
  const stack: Frame[] = [{ value, key: undefined, parent: undefined }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const node = frame.value;
    if (typeof node === "string") {
      if (UNSTORABLE.test(node)) return pathOf(frame);
    } else if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        stack.push({ value: node[i], key: String(i), parent: frame });
      }
    } else if (typeof node === "object" && node !== null) {
      for (const [key, item] of Object.entries(node).reverse()) {
        const child = { value: item, key, parent: frame };
        if (UNSTORABLE.test(key)) return pathOf(child);
        stack.push(child);
      }
    }
  }
  return undefined;
}

/** The 400 for a JSON body the guard refuses, or undefined. */
async function bodyProblem(c: Context): Promise<Response | undefined> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim() ?? "";
  if (c.req.raw.body === null || !JSON_MEDIA_TYPE.test(type)) return undefined;
  const text = await c.req.text(); // cached: the route's validator reads it again
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    const message = `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`;
    return validationProblem("json", [{ path: [], message }]);
  }
  // Valid JSON spells NUL and lone surrogates only as \u escapes (raw bytes decode to U+FFFD).
  if (!text.includes("\\u")) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined; // the route's validator answers MALFORMED_JSON
  }
  const path = unstorableTextPath(body);
  return path && validationProblem("json", [{ path, message: UNSTORABLE_MESSAGE }]);
}

/**
 * Refuses (400, like any invalid input) what passes the schemas but breaks later, as a 500: a JSON
 * body nested deeper than `MAX_JSON_DEPTH` (responses that echo parts of it, such as a test's
 * explanation, could not be serialised), and a JSON body or query parameter holding text
 * PostgreSQL cannot store or compare: NUL, or a lone surrogate (`"\ud800"` in JSON).
 */
export const bodyGuard: MiddlewareHandler = async (c, next) => {
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (UNSTORABLE.test(name) || values.some((value) => UNSTORABLE.test(value))) {
      return validationProblem("query", [{ path: [name], message: UNSTORABLE_MESSAGE }]);
    }
  }
  const problem = await bodyProblem(c);
  if (problem) return problem;
  await next();
};
