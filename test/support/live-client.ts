/**
 * A WebSocket client of `GET /api/observers/ws` for end-to-end tests (Node's global WebSocket):
 * collects every message, waits for a count, a match or the close, and keeps the close code and
 * reason. Also a raw HTTP attempt at the upgrade, to read the answer when it is refused.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { request } from "node:http";
import { connect, type Socket } from "node:net";

/** A message as the server sent it (`ready`, `change`, `execution`, `pong`, `error`). */
export interface LiveMessage {
  type: string;
  cursor?: string;
  [field: string]: unknown;
}

/** How to connect. */
export interface LiveConnectOptions {
  /** The bearer token; null sends none. */
  token: string | null;
  /** `header` (default): `Authorization: Bearer`; `query`: `?token=`. */
  auth?: "header" | "query";
  /** Subscription parameters (entity_type, event_type, observer_id, payload, since). */
  params?: Record<string, string | undefined>;
}

/** One connection. */
export interface LiveClient {
  socket: WebSocket;
  /** Every message received so far, parsed, in order. */
  messages: LiveMessage[];
  /** Resolves when open; rejects when the connection closes or fails first. */
  opened: Promise<void>;
  /** Resolves with the close code and reason, however the connection ends. */
  closed: Promise<{ code: number; reason: string }>;
  /** Whether an `error` event fired. */
  readonly errored: boolean;
  readonly closeCode: number | null;
  readonly closeReason: string | null;
  /** Messages of `type` (all when omitted) received so far. */
  of(type: string): LiveMessage[];
  /** Resolves once `count` messages satisfy `match` (default: every message); returns those. */
  waitFor(
    count: number,
    match?: (message: LiveMessage) => boolean,
    timeoutMs?: number,
  ): Promise<LiveMessage[]>;
  /** Resolves with the `ready` message (the subscriber is live). */
  ready(timeoutMs?: number): Promise<LiveMessage>;
  send(message: unknown): void;
  /** Closes from the client side and waits for the close to complete. */
  close(): Promise<{ code: number; reason: string }>;
}

/** The WebSocket URL of the live endpoint of a server at `baseUrl` (http://host:port[/prefix]). */
export function liveUrl(
  baseUrl: string,
  params: Record<string, string | undefined> = {},
  token?: string,
): string {
  // A base with a path (an API mounted under a prefix) keeps it.
  const base = new URL(baseUrl);
  const url = new URL(`${base.pathname.replace(/\/$/, "")}/api/observers/ws`, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  if (token !== undefined) url.searchParams.set("token", token);
  return url.toString();
}

/** Opens a connection (does not wait for it: see `opened` and `ready`). */
export function connectLive(baseUrl: string, options: LiveConnectOptions): LiveClient {
  const { token } = options;
  const byQuery = options.auth === "query" && token !== null;
  const url = liveUrl(baseUrl, options.params, byQuery ? token : undefined);
  const headers: Record<string, string> = {};
  if (token !== null && !byQuery) headers.authorization = `Bearer ${token}`;
  // Node's (undici's) WebSocket takes headers as a non-standard option.
  const socket = new (WebSocket as unknown as new (url: string, init: unknown) => WebSocket)(url, {
    headers,
  });
  const messages: LiveMessage[] = [];
  const waiters = new Set<() => void>();
  let errored = false;
  let closeCode: number | null = null;
  let closeReason: string | null = null;
  let resolveOpen: () => void = () => {};
  let rejectOpen: (error: Error) => void = () => {};
  const opened = new Promise<void>((resolve, reject) => {
    resolveOpen = resolve;
    rejectOpen = reject;
  });
  opened.catch(() => {});
  let wasOpen = false;
  let resolveClosed: (close: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClosed = resolve;
  });
  const finish = (code: number, reason: string) => {
    if (closeCode !== null) return;
    closeCode = code;
    closeReason = reason;
    rejectOpen(new Error(`closed before it opened: ${code} ${reason}`));
    resolveClosed({ code, reason });
    for (const wake of waiters) wake();
  };
  socket.addEventListener("close", (event) => finish(event.code, event.reason));
  socket.addEventListener("open", () => {
    wasOpen = true;
    resolveOpen();
  });
  socket.addEventListener("error", () => {
    errored = true;
    // A refused handshake is "closed, not cleanly" (1006), but undici 6 (Node 22) fires only
    // `error` then and stays CONNECTING (fixed in undici 7: nodejs/undici#3566).
    if (!wasOpen) setTimeout(() => finish(1006, ""), 50);
  });
  socket.addEventListener("message", (event) => {
    messages.push(JSON.parse(String(event.data)) as LiveMessage);
    for (const wake of waiters) wake();
  });

  function waitFor(
    count: number,
    match: (message: LiveMessage) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<LiveMessage[]> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const check = () => {
        const found = messages.filter(match);
        if (found.length >= count) {
          finish();
          resolve(found);
        } else if (closeCode !== null) {
          finish();
          reject(
            new Error(
              `closed (${closeCode} ${closeReason}) after ${found.length} of ${count} messages`,
            ),
          );
        }
      };
      timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `timed out after ${messages.filter(match).length} of ${count} messages (${messages.length} in all)`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  return {
    socket,
    messages,
    opened,
    closed,
    get errored() {
      return errored;
    },
    get closeCode() {
      return closeCode;
    },
    get closeReason() {
      return closeReason;
    },
    of: (type) => messages.filter((m) => m.type === type),
    waitFor,
    async ready(timeoutMs) {
      const [ready] = await waitFor(1, (m) => m.type === "ready", timeoutMs);
      return ready as LiveMessage;
    },
    send(message) {
      socket.send(JSON.stringify(message));
    },
    async close() {
      if (closeCode === null) socket.close(1000, "done");
      return closed;
    },
  };
}

/** What the server answered to an upgrade request it refused. */
export interface RefusedUpgrade {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends the upgrade request by hand (Node's fetch refuses `Upgrade` headers) and returns the HTTP
 * answer; rejects when the server switches protocols instead.
 */
export function attemptUpgrade(
  baseUrl: string,
  options: LiveConnectOptions,
): Promise<RefusedUpgrade> {
  const byQuery = options.auth === "query" && options.token !== null;
  const url = new URL(
    liveUrl(baseUrl, options.params, byQuery ? (options.token as string) : undefined),
  );
  const headers: Record<string, string> = {
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  if (options.token !== null && !byQuery) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers,
    });
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      reject(new Error("the server accepted the upgrade"));
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** A frame the server sent on a raw connection. */
export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/** A WebSocket spoken by hand over TCP, so a test controls when it reads. */
export interface RawLiveSocket {
  socket: Socket;
  /** Every complete frame so far (text 1, close 8, ping 9, ...). */
  frames: RawFrame[];
  /** Bytes of frames received so far. */
  readonly bytes: number;
  /** Resolves with the close frame's code and reason once one arrives. */
  closeFrame: Promise<{ code: number; reason: string }>;
  /** Resolves once a frame satisfies `match`. */
  waitForFrame(match: (frame: RawFrame) => boolean, timeoutMs?: number): Promise<RawFrame>;
}

/**
 * Connects to `/api/observers/ws` with `?token=` over a plain TCP socket, performs the handshake
 * and parses the server's frames (unmasked, possibly with 16- and 64-bit lengths). Rejects unless
 * the server answers 101.
 */
export async function openRawLive(
  baseUrl: string,
  token: string,
  params: Record<string, string | undefined> = {},
): Promise<RawLiveSocket> {
  const url = new URL(liveUrl(baseUrl, params, token));
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  await once(socket, "connect");
  socket.write(
    [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n"),
  );
  const frames: RawFrame[] = [];
  const waiters = new Set<() => void>();
  let pending = Buffer.alloc(0);
  let handshake: string | null = null;
  let bytes = 0;
  let fragments: RawFrame | null = null;
  let resolveHandshake: (status: string) => void = () => {};
  const handshook = new Promise<string>((resolve) => {
    resolveHandshake = resolve;
  });
  let resolveClose: (close: { code: number; reason: string }) => void = () => {};
  const closeFrame = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClose = resolve;
  });

  function parse(): void {
    for (;;) {
      if (pending.length < 2) return;
      const first = pending[0] as number;
      const second = pending[1] as number;
      let length = second & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (pending.length < 4) return;
        length = pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (pending.length < 10) return;
        length = Number(pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (second & 0x80) offset += 4; // a server never masks, but skip a key anyway
      if (pending.length < offset + length) return;
      const payload = pending.subarray(offset, offset + length);
      pending = pending.subarray(offset + length);
      bytes += offset + length;
      const fin = (first & 0x80) !== 0;
      const opcode = first & 0x0f;
      let frame: RawFrame | null = null;
      if (opcode === 0 && fragments) {
        fragments.payload = Buffer.concat([fragments.payload, payload]);
        if (fin) [frame, fragments] = [fragments, null];
      } else if (!fin) {
        fragments = { opcode, payload: Buffer.from(payload) };
      } else {
        frame = { opcode, payload: Buffer.from(payload) };
      }
      if (!frame) continue;
      frames.push(frame);
      if (frame.opcode === 8) {
        resolveClose({
          code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005,
          reason: frame.payload.subarray(2).toString("utf8"),
        });
      }
      for (const wake of waiters) wake();
    }
  }

  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (handshake === null) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      handshake = pending.subarray(0, end).toString("latin1");
      pending = pending.subarray(end + 4);
      resolveHandshake(handshake.split("\r\n")[0] ?? "");
    }
    parse();
  });
  socket.on("error", () => {});
  const status = await Promise.race([
    handshook,
    once(socket, "close").then(() => "closed before the handshake"),
  ]);
  if (!/^HTTP\/1\.1 101 /.test(status)) {
    socket.destroy();
    throw new Error(`the upgrade was refused: ${status}`);
  }
  return {
    socket,
    frames,
    get bytes() {
      return bytes;
    },
    closeFrame,
    waitForFrame(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = () => {
          const found = frames.find(match);
          if (found) {
            finish();
            resolve(found);
          }
        };
        timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out waiting for a frame (${frames.length} so far)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
