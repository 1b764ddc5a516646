/** Source failures as stored and logged: a stable code, and a message that never holds the URL. */
import { SourceError } from "../ports/source.ts";

/** A failure as stored: a code and a message that never holds the URL. */
export function describeFailure(error: unknown, url: string | null): SourceError {
  const failure =
    error instanceof SourceError
      ? error
      : new SourceError(
          "SOURCE_FAILED",
          `the source reader failed: ${error instanceof Error ? error.message : String(error)}`,
          true,
        );
  const message = redactUrl(failure.message, url);
  return message === failure.message
    ? failure
    : new SourceError(failure.code, message, failure.transient);
}

/** `text` without `url`, nor its password or user info, in any form. */
export function redactUrl(text: string, url: string | null): string {
  if (url === null || url === "") return text;
  const secrets = [url];
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    if (parsed.password) {
      secrets.push(parsed.password);
      try {
        secrets.push(decodeURIComponent(parsed.password));
      } catch {
        // An undecodable escape: the raw form is redacted already.
      }
    }
  }
  let out = text;
  for (const secret of secrets.sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join("[REDACTED]");
  }
  return out;
}
