import * as v from "valibot";
import { MAX_URL_BYTES } from "../net/target.ts";
import { type TemplateMode, templateIssues } from "../templates/index.ts";
import { notArray } from "../validation.ts";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 field-name token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** CR, LF and NUL would let a value smuggle extra headers. */
const HEADER_VALUE_FORBIDDEN = /[\r\n\0]/;

function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const { protocol } = new URL(text);
  return protocol === "http:" || protocol === "https:";
}

/** No `user:password@`: fetch refuses such URLs, so every delivery would fail (INVALID_URL). */
function hasNoCredentials(text: string): boolean {
  if (!URL.canParse(text)) return true; // said by the check before
  const { username, password } = new URL(text);
  return username === "" && password === "";
}

/** An absolute http(s) URL of at most 2048 bytes, without credentials. */
export const httpUrl = v.pipe(
  v.string(),
  v.maxBytes(MAX_URL_BYTES, `must be at most ${MAX_URL_BYTES} bytes`),
  v.check(isHttpUrl, "must be an absolute http:// or https:// URL"),
  v.check(
    hasNoCredentials,
    "must not embed credentials (user:password@): send them in a header, or the action's credential field",
  ),
);

/** The name of an environment variable holding a URL or secret. */
export const envName = v.pipe(
  v.string(),
  v.regex(ENV_NAME, "must be an environment variable name (letters, digits, underscore)"),
);

/** A literal secret or credential: never empty. */
export const secret = v.pipe(v.string(), v.nonEmpty("must not be empty"));

/** A non-empty string. */
export const nonEmptyString = v.pipe(v.string(), v.nonEmpty("must not be empty"));

/** Custom HTTP headers: token names, values without CR/LF/NUL. JSON `null` means none. */
export const headers = v.pipe(
  v.nullish(v.pipe(v.unknown(), notArray(), v.record(v.string(), v.string()))),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed || !dataset.value) return;
    for (const [name, value] of Object.entries(dataset.value)) {
      if (!HEADER_NAME.test(name)) {
        addIssue({ message: `header name ${JSON.stringify(name)} is not a valid HTTP token` });
      } else if (HEADER_VALUE_FORBIDDEN.test(value)) {
        addIssue({ message: `header ${name} contains CR, LF or NUL` });
      }
    }
  }),
  v.transform((value) => value ?? {}),
);

/** A template string (see src/templates): non-empty, and its placeholders parse. */
export function template(mode: TemplateMode) {
  return v.pipe(
    v.string(),
    v.nonEmpty("must not be empty"),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      for (const issue of templateIssues(dataset.value, mode)) addIssue({ message: issue.message });
    }),
  );
}

/** Exactly one of a literal value and its `_env` variant must be given. */
export function exactlyOne<T extends Record<string, unknown>>(
  literal: keyof T & string,
  env: keyof T & string,
) {
  return v.check<T, string>(
    (config) => (config[literal] === undefined) !== (config[env] === undefined),
    `give exactly one of ${literal} and ${env}`,
  );
}

/** At most one of a literal value and its `_env` variant may be given. */
export function atMostOne<T extends Record<string, unknown>>(
  literal: keyof T & string,
  env: keyof T & string,
) {
  return v.check<T, string>(
    (config) => config[literal] === undefined || config[env] === undefined,
    `give ${literal} or ${env}, not both`,
  );
}
