/** Source failures as stored and logged: a stable code, and a message that never holds the URL. */
import { createScrubber } from "../executor/scrub.ts";
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

/**
 * `text` without `url`, nor its password, in any form the shared scrubber knows (as is, URL- or
 * JSON-encoded, in base64; src/executor/scrub.ts).
 */
export function redactUrl(text: string, url: string | null): string {
  if (url === null || url === "") return text;
  const secrets = [url];
  if (URL.canParse(url)) {
    const { password } = new URL(url);
    if (password) {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // An undecodable escape: the raw form is scrubbed already.
      }
    }
  }
  return createScrubber(secrets).scrub(text);
}
