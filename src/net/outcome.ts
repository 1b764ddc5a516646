import { type ActionEnvironment, ActionFailure, type ActionResult } from "../actions/types.ts";
import { RESPONSE_EXCERPT_BYTES, truncateUtf8 } from "./body.ts";
import type { HttpResponse } from "./http.ts";
import { parseRetryAfter } from "./retry-after.ts";

// HTTP/2 and HTTP/3 carry no reason phrase, so messages take it from here rather than statusText.
const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  423: "Locked",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
  508: "Loop Detected",
  511: "Network Authentication Required",
};

/** `HTTP 503 Service Unavailable`, or just `HTTP 599` for a status without a standard phrase. */
export function describeStatus(status: number): string {
  const reason = REASONS[status];
  return reason === undefined ? `HTTP ${status}` : `HTTP ${status} ${reason}`;
}

/** The host (and port) of a URL, for messages: the full URL may carry tokens in path or query. */
export function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : "the target";
}

/** Svix's delivery control: a receiver answering `webhook-delivery: abort-message` wants no retry. */
function asksToAbort(headers: Headers): boolean {
  const value = headers.get("webhook-delivery");
  if (value === null) return false;
  return value.split(",").some((token) => token.trim().toLowerCase() === "abort-message");
}

/**
 * The standard reading of a response: 2xx succeeds (`HTTP <status>`); a `webhook-delivery:
 * abort-message` header on any other status fails permanently (`RECEIVER_ABORTED`); 408, 429 and
 * 5xx are transient (`HTTP_STATUS`, honouring `Retry-After` in seconds or as an HTTP date); every
 * other status is a permanent `HTTP_STATUS` failure. Excerpts are bounded.
 */
export function expectSuccess(
  response: HttpResponse,
  environment: ActionEnvironment,
): ActionResult {
  const { status } = response;
  const excerpt = truncateUtf8(response.body, RESPONSE_EXCERPT_BYTES);
  const withExcerpt = excerpt === "" ? {} : { responseExcerpt: excerpt };
  if (status >= 200 && status <= 299) {
    return { message: `HTTP ${status}`, httpStatus: status, ...withExcerpt };
  }
  const summary = `${describeStatus(status)} from ${hostOf(response.url)}`;
  const details = { httpStatus: status, ...withExcerpt };
  if (asksToAbort(response.headers)) {
    throw new ActionFailure(
      "permanent",
      "RECEIVER_ABORTED",
      `${summary}; the receiver asked not to retry (webhook-delivery: abort-message)`,
      details,
    );
  }
  if (status === 408 || status === 429 || (status >= 500 && status <= 599)) {
    const now = environment.clock.now();
    const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), now);
    throw new ActionFailure(
      "transient",
      "HTTP_STATUS",
      summary,
      retryAfterMs === undefined ? details : { ...details, retryAfterMs },
    );
  }
  throw new ActionFailure("permanent", "HTTP_STATUS", summary, details);
}
