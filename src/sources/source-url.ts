/**
 * A source's connection URL, where this server runs it: from the variable `url_env` names (under
 * the secret rules of actions' `*_env` fields, global scope, checked again before every read), or
 * decrypted with `OBSERVERS_SOURCE_KEY`; and the variables the URL itself names (a CA bundle),
 * under the same rules. Failures are non-transient `SourceError`s saying what to set; none holds
 * the URL.
 */
import { type ActionPolicy, secretRefusal } from "../actions/policy.ts";
import { SourceError } from "../ports/source.ts";
import type { SourceRow } from "../store/sources.ts";
import { decryptSourceUrl } from "./url-secret.ts";

/** What resolving a URL needs of the server. */
export interface SourceUrlOptions {
  env: Readonly<Record<string, string | undefined>>;
  policy: ActionPolicy;
  sourceKey: string | null;
}

/**
 * A variable a source's URL names (MySQL's `ssl-ca-env`), under the same rules as `url_env`:
 * a refused name throws `SOURCE_URL_NOT_ALLOWED`; unset or empty is undefined.
 */
export function readSourceEnv(name: string, options: SourceUrlOptions): string | undefined {
  const refusal = secretRefusal(options.policy, name, null);
  if (refusal) {
    throw new SourceError(
      "SOURCE_URL_NOT_ALLOWED",
      `the source's URL names variable ${name}, which the secret rules refuse: ${refusal.message}`,
      false,
    );
  }
  const value = options.env[name];
  return value === undefined || value === "" ? undefined : value;
}

/** The URL of source `row`; see the file comment. */
export async function resolveSourceUrl(
  row: Pick<SourceRow, "id" | "url_env" | "url_ciphertext">,
  options: SourceUrlOptions,
): Promise<string> {
  if (row.url_env !== null) {
    const refusal = secretRefusal(options.policy, row.url_env, null);
    if (refusal) throw new SourceError("SOURCE_URL_NOT_ALLOWED", refusal.message, false);
    const value = options.env[row.url_env];
    if (value === undefined || value === "") {
      throw new SourceError(
        "SOURCE_URL_MISSING",
        `environment variable ${row.url_env} (url_env) is not set on this server`,
        false,
      );
    }
    return value;
  }
  if (options.sourceKey === null) {
    throw new SourceError(
      "SOURCE_KEY_MISSING",
      "the source's url is stored encrypted and OBSERVERS_SOURCE_KEY is not set on this server",
      false,
    );
  }
  const url = await decryptSourceUrl(row.url_ciphertext ?? "", row.id, options.sourceKey);
  if (url === null) {
    throw new SourceError(
      "SOURCE_KEY_MISMATCH",
      "the source's url cannot be decrypted with this server's OBSERVERS_SOURCE_KEY (it was stored under another key)",
      false,
    );
  }
  return url;
}
