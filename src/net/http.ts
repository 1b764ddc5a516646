// INTERFACE STUB — the net helper replaces this file's bodies (keep these exports).
import type { ActionEnvironment, ActionResult } from "../actions/types.ts";

/** How much of a response body outcomes and logs keep. */
export const RESPONSE_EXCERPT_BYTES = 1024;

/** An outbound HTTP request. */
export interface HttpRequest {
  url: string;
  /** Default POST. */
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer> | URLSearchParams | null;
}

/** A response, its body read up to a bound. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The body as text, at most `maxBodyBytes` (default RESPONSE_EXCERPT_BYTES) bytes of it. */
  body: string;
  /** The final URL (after followed 307/308 redirects). */
  url: string;
}

/**
 * Sends a request the safe way. The URL must be http(s) and at most 2048 bytes (else permanent
 * `INVALID_URL`); unless `allowPrivateTargets`, loopback/private/link-local/CGNAT/ULA/metadata
 * targets are refused (permanent `TARGET_FORBIDDEN`). 307/308 redirects are followed (at most 5
 * hops, each checked the same way); other 3xx fail permanently (`REDIRECT_NOT_FOLLOWED`), since
 * they would turn a POST into a GET. Network errors are transient `NETWORK_ERROR`; an aborted
 * `signal` rethrows its reason untouched.
 */
export async function sendHttp(
  request: HttpRequest,
  environment: ActionEnvironment,
  signal: AbortSignal,
  options: { maxBodyBytes?: number } = {},
): Promise<HttpResponse> {
  void options;
  const response = await environment.fetch(request.url, {
    method: request.method ?? "POST",
    headers: request.headers ?? {},
    body: request.body ?? null,
    signal,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
    url: request.url,
  };
}

/**
 * The standard reading of a response: 2xx succeeds (`HTTP <status>`); a `webhook-delivery:
 * abort-message` header fails permanently (`RECEIVER_ABORTED`); 408, 429 and 5xx are transient
 * (`HTTP_STATUS`, honouring `Retry-After` in seconds or as an HTTP date); every other status is a
 * permanent `HTTP_STATUS` failure. Excerpts are bounded.
 */
export function expectSuccess(
  response: HttpResponse,
  environment: ActionEnvironment,
): ActionResult {
  void environment;
  return { message: `HTTP ${response.status}`, httpStatus: response.status };
}
