/**
 * Splits PostgreSQL's backend byte stream (type byte, int32 length, body) into messages, so the
 * session guard can read ReadyForQuery and notifications and drop the ones it delivers itself.
 * Bytes arrive in arbitrary chunks; a message cut between chunks waits for the rest.
 */
export class BackendMessages {
  #pending = new Uint8Array(0);
  readonly #keep: (type: number, message: Uint8Array) => boolean;

  /** `keep` sees each whole message and says whether it goes on to the client. */
  constructor(keep: (type: number, message: Uint8Array) => boolean) {
    this.#keep = keep;
  }

  /** The whole messages completed by `chunk` that are kept, concatenated. */
  push(chunk: Uint8Array): Uint8Array {
    const data = this.#pending.length === 0 ? chunk : concat([this.#pending, chunk]);
    const kept: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= 5) {
      const length = new DataView(data.buffer, data.byteOffset + offset + 1, 4).getInt32(0);
      const end = offset + 1 + length;
      if (length < 4 || end > data.length) break;
      const message = data.subarray(offset, end);
      if (this.#keep(data[offset] as number, message)) kept.push(message);
      offset = end;
    }
    // Copied: PGlite reuses the memory behind the chunks it hands out.
    this.#pending = data.slice(offset);
    return kept.length === 1 ? (kept[0] as Uint8Array).slice() : concat(kept);
  }

  /** Bytes left over that never formed a whole message (none from a healthy backend). */
  rest(): Uint8Array {
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    return rest;
  }

  /** The channel and payload of a NotificationResponse ('A': int32 pid, two C strings). */
  static notification(message: Uint8Array): { channel: string; payload: string } {
    const decoder = new TextDecoder();
    const channelStart = 9;
    const channelEnd = message.indexOf(0, channelStart);
    const payloadEnd = message.indexOf(0, channelEnd + 1);
    return {
      channel: decoder.decode(message.subarray(channelStart, channelEnd)),
      payload: decoder.decode(message.subarray(channelEnd + 1, payloadEnd)),
    };
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
