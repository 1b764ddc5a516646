/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` an attempt sends
 * when its change has a trace id. The change log's `trace_id` is text written by the producer;
 * it is used when it is a W3C trace id: 32 hex digits (upper case is lowered), a UUID (its 32
 * hex digits, the same 128 bits), or a whole valid `traceparent` (its trace id). Anything else,
 * and the all-zero id W3C forbids, sends no header: a made-up id would join no trace. Each
 * attempt is a new span (8 random bytes), sampled (`01`).
 */

const HEX32 = /^[0-9a-f]{32}$/;
const UUID = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/;
/** Version, trace id, parent id, flags; a version after 00 may carry more fields after a `-`. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/;
const ZERO = "0".repeat(32);

/** The W3C trace id (32 lower-case hex digits) of a change-log `trace_id`, or null. */
export function w3cTraceId(traceId: string | null | undefined): string | null {
  if (!traceId) return null;
  const text = traceId.trim().toLowerCase();
  let id: string | null = null;
  if (HEX32.test(text)) id = text;
  else {
    const uuid = UUID.exec(text);
    if (uuid) id = uuid.slice(1).join("");
    else id = traceparentTraceId(text);
  }
  return id === null || id === ZERO ? null : id;
}

/**
 * The trace id of a whole `traceparent`, or null where W3C says to ignore the header: version
 * `ff`, an all-zero parent id, or version 00 with anything after its flags.
 */
function traceparentTraceId(text: string): string | null {
  const match = TRACEPARENT.exec(text);
  if (!match) return null;
  const [, version, id, parent, rest] = match;
  if (version === "ff" || parent === "0".repeat(16)) return null;
  if (version === "00" && rest !== undefined) return null;
  return id ?? null;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Random bytes drawn in blocks: one `getRandomValues` call serves 512 span ids. */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

/** A new span id: 8 random bytes as 16 hex digits, never all zero. */
export function newSpanId(): string {
  if (poolOffset + 8 > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let text = "";
  let zero = true;
  for (let i = poolOffset; i < poolOffset + 8; i++) {
    const byte = pool[i] as number;
    if (byte !== 0) zero = false;
    text += HEX[byte];
  }
  poolOffset += 8;
  return zero ? "0000000000000001" : text;
}

/** The `traceparent` of one attempt for a change-log `trace_id`, or null when it has none usable. */
export function traceparentFor(traceId: string | null | undefined): string | null {
  const id = w3cTraceId(traceId);
  return id === null ? null : `00-${id}-${newSpanId()}-01`;
}

/**
 * `fetchFn` sending `traceparent` on every request that does not set one itself: what an attempt's
 * actions get as `environment.fetch`, so every HTTP action (and a host's own, through the same
 * fetch) carries it, redirects included. Called unbound, as Workers require.
 */
export function tracedFetch(fetchFn: typeof fetch, traceparent: string): typeof fetch {
  const traced = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    if (!headers.has("traceparent")) headers.set("traceparent", traceparent);
    return fetchFn(input, { ...init, headers });
  };
  return traced as typeof fetch;
}
