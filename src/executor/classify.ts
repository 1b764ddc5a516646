import { ActionFailure, type FailureKind } from "../actions/types.ts";
import { redactUrls } from "../net/redact.ts";

/** Longest error message an outcome carries. */
export const MAX_ERROR_MESSAGE_CHARS = 1000;

/** What stopped an attempt from outside the action. */
export type AbortCause = { by: "timeout"; afterMs: number } | { by: "shutdown" };

/** A failed attempt, normalised from whatever was thrown. */
export interface AttemptFailure {
  status: "failed" | "timeout" | "cancelled";
  /** `cancelled` is neither: the attempt did not count and runs again. */
  kind: FailureKind | "cancelled";
  code: string;
  message: string;
  httpStatus: number | null;
  retryAfterMs: number | null;
  responseExcerpt: string | null;
}

/** Cuts `text` to at most `max` characters, never through a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** A message safe to store and bounded in length. */
export function safeMessage(text: string): string {
  return truncate(redactUrls(text), MAX_ERROR_MESSAGE_CHARS);
}

function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    const own = error.message ? `${error.name}: ${error.message}` : error.name;
    // `fetch failed` alone says nothing; the cause (ECONNREFUSED, a TLS error) is the useful part.
    const cause: unknown = error.cause;
    return cause instanceof Error && cause.message ? `${own} (${cause.message})` : own;
  }
  if (typeof error === "string") return error;
  try {
    return `thrown value: ${String(error)}`;
  } catch {
    return "thrown value of unknown kind";
  }
}

/**
 * Turns what an attempt threw into a failure. `abortedBy` (when the executor aborted the attempt)
 * wins over what was thrown, since that is usually just the abort's echo. `ActionFailure` keeps
 * its kind and code; anything else is transient `ACTION_ERROR`, so a delivery is never dropped on
 * an unexpected error: it is retried, then dead-lettered.
 */
export function classifyFailure(
  error: unknown,
  abortedBy: AbortCause | null = null,
): AttemptFailure {
  const base = { httpStatus: null, retryAfterMs: null, responseExcerpt: null };
  if (abortedBy?.by === "timeout") {
    return {
      ...base,
      status: "timeout",
      kind: "transient",
      code: "TIMEOUT",
      message: `the action did not finish within ${abortedBy.afterMs} ms`,
    };
  }
  if (abortedBy?.by === "shutdown") {
    return {
      ...base,
      status: "cancelled",
      kind: "cancelled",
      code: "CANCELLED",
      message: "the runtime shut down during the attempt",
    };
  }
  if (error instanceof ActionFailure) {
    return {
      status: "failed",
      kind: error.kind,
      code: error.code,
      message: safeMessage(error.message),
      httpStatus: error.httpStatus ?? null,
      retryAfterMs: error.retryAfterMs ?? null,
      responseExcerpt: error.responseExcerpt ?? null,
    };
  }
  return {
    ...base,
    status: "failed",
    kind: "transient",
    code: "ACTION_ERROR",
    message: safeMessage(describeThrown(error)),
  };
}
