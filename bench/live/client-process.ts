/**
 * WebSocket subscribers of the live benchmark, in a process of their own (several such processes
 * share the subscribers, so that one event loop's backlog does not become everyone's latency).
 * Every socket records, per change, the time it received it (`performance.timeOrigin +
 * performance.now()`, the machine's wall clock in ms); the entity id is read from the message
 * text without parsing it all, to keep the client's own cost small.
 *
 * Commands on stdin, one JSON object a line, each answered by one JSON line on stdout:
 * - `{"cmd":"open","url":"ws://…","sockets":500}`: opens the sockets, answers once every one has
 *   received `ready` (`{"ready":500,"ms":…}`), or `{"error":…}`.
 * - `{"cmd":"reset","base":1234}`: forgets what was received; the next changes have ids > base.
 * - `{"cmd":"count"}`: `{"changes":…,"closed":…}` since the last reset.
 * - `{"cmd":"collect","ids":[…],"t":[…]}`: given the expected entity ids and their commit times,
 *   answers a histogram of receive minus commit time over every socket and change (keys in tenths
 *   of a ms), per change the first and last receive time, and the gaps and duplicates.
 * - `{"cmd":"close"}`: closes every socket, answers `{"closed":n}`.
 */
import { createInterface } from "node:readline";

interface Subscriber {
  ws: WebSocket;
  /** Receive time of change `base + 1 + i` at index i; 0 = not received. */
  times: Float64Array;
  recorded: number;
  duplicates: number;
  unexpected: number;
  ready: boolean;
}

let subscribers: Subscriber[] = [];
let base = 0;
let changes = 0;
let others = 0;
const closes: { code: number; reason: string }[] = [];

const ENTITY_ID = '"entity_id":"';

function record(sub: Subscriber, id: number, now: number): void {
  const index = id - base - 1;
  if (!Number.isInteger(index) || index < 0) {
    sub.unexpected++;
    return;
  }
  if (index >= sub.times.length) {
    const grown = new Float64Array(Math.max(sub.times.length * 2, index + 1));
    grown.set(sub.times);
    sub.times = grown;
  }
  if (sub.times[index] !== 0) sub.duplicates++;
  else {
    sub.times[index] = now;
    sub.recorded++;
  }
}

function connect(url: string): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const sub: Subscriber = {
      ws,
      times: new Float64Array(1024),
      recorded: 0,
      duplicates: 0,
      unexpected: 0,
      ready: false,
    };
    ws.onmessage = (event) => {
      const now = performance.timeOrigin + performance.now();
      const text = event.data;
      if (typeof text === "string" && text.startsWith('{"type":"change"')) {
        changes++;
        const at = text.indexOf(ENTITY_ID);
        const from = at + ENTITY_ID.length;
        record(sub, at < 0 ? Number.NaN : Number(text.slice(from, text.indexOf('"', from))), now);
        return;
      }
      const message = JSON.parse(String(text)) as { type?: string };
      if (message.type === "ready" && !sub.ready) {
        sub.ready = true;
        resolve(sub);
      } else others++;
    };
    ws.onclose = (event) => {
      closes.push({ code: event.code, reason: event.reason });
      if (!sub.ready) reject(new Error(`closed before ready: ${event.code} ${event.reason}`));
    };
    ws.onerror = () => {
      if (!sub.ready) reject(new Error("WebSocket error before ready"));
    };
  });
}

async function open(url: string, sockets: number) {
  const started = performance.now();
  // In waves, so the server's accept queue is never the thing measured.
  for (let opened = 0; opened < sockets; ) {
    const wave = Math.min(100, sockets - opened);
    subscribers.push(...(await Promise.all(Array.from({ length: wave }, () => connect(url)))));
    opened += wave;
  }
  return { ready: subscribers.length, ms: performance.now() - started };
}

function collect(ids: number[], t: number[]) {
  const histogram = new Map<number, number>();
  const first = new Array<number>(ids.length).fill(Number.POSITIVE_INFINITY);
  const last = new Array<number>(ids.length).fill(0);
  let delivered = 0;
  let missing = 0;
  let duplicates = 0;
  let unexpected = 0;
  for (const sub of subscribers) {
    let matched = 0;
    for (let i = 0; i < ids.length; i++) {
      const index = (ids[i] as number) - base - 1;
      const time = index < sub.times.length ? (sub.times[index] as number) : 0;
      if (time === 0) {
        missing++;
        continue;
      }
      matched++;
      const key = Math.round((time - (t[i] as number)) * 10);
      histogram.set(key, (histogram.get(key) ?? 0) + 1);
      if (time < (first[i] as number)) first[i] = time;
      if (time > (last[i] as number)) last[i] = time;
    }
    delivered += matched;
    duplicates += sub.duplicates;
    unexpected += sub.unexpected + (sub.recorded - matched);
  }
  return {
    histogram: [...histogram],
    delivered,
    missing,
    duplicates,
    unexpected,
    others,
    closes,
    first: first.map((value) => (Number.isFinite(value) ? value : null)),
    last: last.map((value) => (value === 0 ? null : value)),
  };
}

function reset(nextBase: number): void {
  base = nextBase;
  changes = 0;
  others = 0;
  for (const sub of subscribers) {
    sub.times.fill(0);
    sub.recorded = 0;
    sub.duplicates = 0;
    sub.unexpected = 0;
  }
}

async function close(): Promise<number> {
  const closing = subscribers.map(
    (sub) =>
      new Promise<void>((resolve) => {
        if (sub.ws.readyState === WebSocket.CLOSED) return resolve();
        sub.ws.addEventListener("close", () => resolve());
        sub.ws.close(1000, "done");
      }),
  );
  await Promise.all(closing);
  const count = subscribers.length;
  subscribers = [];
  closes.length = 0;
  return count;
}

type Command =
  | { cmd: "open"; url: string; sockets: number }
  | { cmd: "reset"; base: number }
  | { cmd: "count" }
  | { cmd: "collect"; ids: number[]; t: number[] }
  | { cmd: "close" };

async function answer(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case "open":
      return open(command.url, command.sockets);
    case "reset":
      reset(command.base);
      return { ok: true };
    case "count":
      return { changes, closed: closes.length };
    case "collect":
      return collect(command.ids, command.t);
    case "close":
      return { closed: await close() };
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let reply: unknown;
  try {
    reply = await answer(JSON.parse(line) as Command);
  } catch (error) {
    reply = { error: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
lines.on("close", () => {
  void close().then(() => process.exit(0));
});
