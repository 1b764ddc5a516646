import { type ActionEnvironment, ActionFailure } from "../actions/types.ts";
import { RESPONSE_EXCERPT_BYTES, readBody } from "./body.ts";
import { redactUrls } from "./redact.ts";
import { checkResolvedTarget } from "./resolved.ts";
import { parseTarget } from "./target.ts";

export { RESPONSE_EXCERPT_BYTES } from "./body.ts";
export { expectSuccess } from "./outcome.ts";

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

const MAX_REDIRECTS = 5;
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/**
 * The only headers carried to another origin: they describe the body and the client. Every other
 * header the action set (`Authorization`, API keys under any name, cookies, signatures, whatever a
 * user configured) stays with the origin it was configured for.
 */
const CROSS_ORIGIN_HEADERS = new Set([
  "content-type",
  "content-language",
  "accept",
  "accept-language",
  "user-agent",
]);

function crossOriginHeaders(headers: Headers): Headers {
  const kept = new Headers();
  for (const [name, value] of headers) if (CROSS_ORIGIN_HEADERS.has(name)) kept.append(name, value);
  return kept;
}

type Init = RequestInit & { signal: AbortSignal; headers: Headers };

function invalidRequest(message: string): ActionFailure {
  return new ActionFailure("permanent", "INVALID_REQUEST", message);
}

// fetch would reject these with a TypeError, indistinguishable from a network error (and, for a
// header, quoting its value, which may be a secret): name the problem, permanently, instead.
function buildInit(request: HttpRequest, signal: AbortSignal): Init {
  const method = request.method ?? "POST";
  if (!METHOD_TOKEN.test(method) || FORBIDDEN_METHODS.has(method.toUpperCase())) {
    throw invalidRequest(`method ${JSON.stringify(method.slice(0, 40))} cannot be sent`);
  }
  const body = request.body ?? null;
  if (body !== null && /^(?:GET|HEAD)$/i.test(method)) {
    throw invalidRequest(`a ${method.toUpperCase()} request cannot have a body`);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    try {
      headers.append(name, value);
    } catch {
      throw invalidRequest(
        `header ${JSON.stringify(name.slice(0, 100))} has an invalid name or value`,
      );
    }
  }
  return { method, headers, body, redirect: "manual", signal };
}

/** The cause chain's messages (undici's `fetch failed` alone says nothing), bounded. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    let message = current instanceof Error ? current.message : String(current);
    if (message === "" && current instanceof AggregateError) {
      message = current.errors.map((inner) => describeError(inner)).join("; ");
    }
    if (message !== "" && !parts.includes(message)) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return redactUrls(parts.join(": ") || "unknown error").slice(0, 500);
}

async function fetchOnce(environment: ActionEnvironment, url: URL, init: Init): Promise<Response> {
  // Called unbound: Workers throw "Illegal invocation" when fetch runs with another `this`.
  const fetchFn = environment.fetch;
  try {
    return await fetchFn(url.href, init);
  } catch (error) {
    // The executor tells a timeout from a shutdown by the reason: hand it back untouched.
    if (init.signal.aborted) throw init.signal.reason;
    if (error instanceof ActionFailure) throw error;
    throw new ActionFailure(
      "transient",
      "NETWORK_ERROR",
      `request to ${url.host} failed: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/** Origin and path of a Location, for messages: its query or fragment may carry tokens. */
function describeLocation(location: string, base: URL): string {
  if (!URL.canParse(location, base)) return "an invalid Location";
  const target = new URL(location, base);
  return `${target.origin}${target.pathname}`.slice(0, 200);
}

function notFollowed(message: string, status: number): ActionFailure {
  return new ActionFailure("permanent", "REDIRECT_NOT_FOLLOWED", message, { httpStatus: status });
}

/** The URL a 3xx response leads to, vetted like the first one; throws when it is not followed. */
function nextHop(response: Response, url: URL, hops: number, environment: ActionEnvironment): URL {
  const { status } = response;
  const from = `HTTP ${status} from ${url.host}`;
  const location = response.headers.get("location");
  if (location === null) throw notFollowed(`${from} is a redirect without a Location`, status);
  if (status !== 307 && status !== 308) {
    throw notFollowed(
      `${from} redirects to ${describeLocation(location, url)}; only 307 and 308 are followed ` +
        "(the others turn a POST into a GET): configure the final URL instead",
      status,
    );
  }
  if (hops >= MAX_REDIRECTS)
    throw notFollowed(`${from}: more than ${MAX_REDIRECTS} redirects`, status);
  const next = parseTarget(location, {
    allowPrivateTargets: environment.allowPrivateTargets,
    base: url,
    label: `redirect from ${url.host}`,
  });
  if (url.protocol === "https:" && next.protocol === "http:") {
    throw notFollowed(`${from} redirects from https to plain http (${next.host})`, status);
  }
  return next;
}

/**
 * Sends a request the safe way. The URL must be http(s) and at most 2048 bytes (else permanent
 * `INVALID_URL`); unless `allowPrivateTargets`, loopback/private/link-local/CGNAT/ULA/metadata
 * targets are refused (permanent `TARGET_FORBIDDEN`), by the URL and, where the runtime resolves
 * names (`resolveHost`), by every address its name resolves to (resolved.ts). 307/308 redirects
 * are followed (at most 5 hops, each checked the same way, never from https to http; when the
 * origin changes, only the headers describing the body and the client follow); other 3xx fail
 * permanently (`REDIRECT_NOT_FOLLOWED`), since they would turn a POST into a GET. An invalid method
 * or header is a permanent `INVALID_REQUEST`. Network errors are transient `NETWORK_ERROR`; an
 * aborted `signal` rethrows its reason untouched.
 */
export async function sendHttp(
  request: HttpRequest,
  environment: ActionEnvironment,
  signal: AbortSignal,
  options: { maxBodyBytes?: number } = {},
): Promise<HttpResponse> {
  signal.throwIfAborted();
  const maxBodyBytes = options.maxBodyBytes ?? RESPONSE_EXCERPT_BYTES;
  const init = buildInit(request, signal);
  let url = parseTarget(request.url, { allowPrivateTargets: environment.allowPrivateTargets });
  let label = "target URL";
  for (let hops = 0; ; hops++) {
    // Every hop's name is resolved and checked, not only the first one's.
    await checkResolvedTarget(url, environment, signal, label);
    const response = await fetchOnce(environment, url, init);
    // Browsers hide manual redirects behind an opaque response; server runtimes do not.
    if (response.type === "opaqueredirect") {
      throw notFollowed(`${url.host} redirected, but the runtime hides where`, 0);
    }
    if (response.status < 300 || response.status > 399) {
      const body = await readBody(response, maxBodyBytes, signal);
      return { status: response.status, headers: response.headers, body, url: url.href };
    }
    // Free the connection without reading what may be a large redirect page.
    response.body?.cancel().catch(() => {});
    const next = nextHop(response, url, hops, environment);
    if (next.origin !== url.origin) init.headers = crossOriginHeaders(init.headers);
    label = `redirect from ${url.host}`;
    url = next;
  }
}
