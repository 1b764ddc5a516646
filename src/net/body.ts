/** How much of a response body outcomes and logs keep. */
export const RESPONSE_EXCERPT_BYTES = 1024;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The longest prefix of `bytes` of at most `maxBytes` that does not end inside a UTF-8 sequence,
 * so a cut never leaves a replacement character (or half an emoji) at the end of an excerpt.
 */
export function utf8Prefix(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (bytes.byteLength <= maxBytes) return bytes;
  let end = Math.max(0, maxBytes);
  // Walk back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  let lead = end - 1;
  while (lead >= 0 && lead > end - 4 && ((bytes[lead] ?? 0) & 0xc0) === 0x80) lead--;
  if (lead >= 0) {
    const byte = bytes[lead] ?? 0;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    if (lead + length > end) end = lead;
  }
  return bytes.subarray(0, end);
}

/** Cuts `text` to at most `maxBytes` of UTF-8, on a character boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Every UTF-16 code unit encodes to at most 3 bytes: short strings need no encoding at all.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = encoder.encode(text);
  return bytes.byteLength <= maxBytes ? text : decoder.decode(utf8Prefix(bytes, maxBytes));
}

/**
 * Reads at most `maxBytes` of a response body as UTF-8 text, then cancels the stream, so a huge or
 * endless body is never downloaded in full. Malformed UTF-8 decodes to U+FFFD rather than throwing.
 * A body that breaks off mid-read yields what arrived (nothing, if its length was declared: the
 * status line is the receiver's verdict; the body is only an excerpt), unless `signal` was aborted,
 * whose reason is rethrown.
 */
export async function readBody(
  response: Response,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<string> {
  const stream = response.body;
  if (stream === null) return "";
  // A declared length within the limit (most answers to a webhook: empty or short) is read in
  // one go, without a stream reader; the framing holds the read to that length.
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  if (length <= maxBytes) {
    try {
      return decoder.decode(utf8Prefix(new Uint8Array(await response.arrayBuffer()), maxBytes));
    } catch {
      if (signal?.aborted) throw signal.reason;
      return "";
    }
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let done = false;
  try {
    while (total < maxBytes) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      chunks.push(next.value);
      total += next.value.byteLength;
    }
  } catch {
    if (signal?.aborted) throw signal.reason;
    done = true;
  } finally {
    // Cancelling (not draining) tells the runtime to drop the connection; not awaited, since a
    // misbehaving peer must not be able to hold us here.
    if (!done) reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decoder.decode(utf8Prefix(bytes, maxBytes));
}
