/**
 * The few Workers runtime types the adapter uses, written out structurally so that the repository
 * needs no `@cloudflare/workers-types` (whose globals would clash with DOM and Node types in the
 * shared tsconfig). Names follow the runtime's; only what is used here is declared.
 */

/** A server-side WebSocket in workerd: the standard one, plus hibernation attachments. */
export interface WorkersWebSocket extends WebSocket {
  /** Keeps a structured-clonable value with the socket across hibernation (at most 2 048 bytes). */
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}

/** `ctx.storage`, the Durable Object's own transactional storage (the part used here). */
export interface DurableObjectStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  /** When the object's alarm is set for (ms since the epoch), or null. */
  getAlarm(): Promise<number | null>;
  /** Sets the object's one alarm (replacing any other): its `alarm()` handler runs then. */
  setAlarm(scheduledTime: number | Date): Promise<void>;
}

/** `ctx`, the Durable Object's state (the hibernation WebSocket API and storage). */
export interface DurableObjectState {
  readonly storage: DurableObjectStorage;
  /** Hibernatable accept: the runtime owns the socket; at most 10 tags of at most 256 characters. */
  acceptWebSocket(ws: WebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): WebSocket[];
  getTags(ws: WebSocket): string[];
  /** A `WebSocketRequestResponsePair` answered without waking the object. */
  setWebSocketAutoResponse(pair?: unknown): void;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  waitUntil(promise: Promise<unknown>): void;
}

/** An id of a Durable Object. */
export interface DurableObjectId {
  toString(): string;
}

/** A stub: requests to one Durable Object. */
export interface DurableObjectStub {
  fetch(input: string | Request | URL, init?: RequestInit): Promise<Response>;
}

/** A Durable Object namespace binding. */
export interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
}

/** A Hyperdrive binding: a connection string to the pooled database. */
export interface Hyperdrive {
  readonly connectionString: string;
}

/** The `ctx` of a Worker's `fetch` and `scheduled` handlers. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
  /** Set by service bindings; `{}` otherwise. */
  props: unknown;
}

/** The first argument of `scheduled`. */
export interface ScheduledController {
  readonly cron: string;
  readonly scheduledTime: number;
}

interface WorkersGlobals {
  WebSocketPair: new () => { 0: WebSocket; 1: WebSocket };
  WebSocketRequestResponsePair: new (request: string, response: string) => unknown;
}

/** workerd's own globals (`WebSocketPair`, ...), which exist only at run time in workerd. */
export function workersGlobals(): WorkersGlobals {
  return globalThis as unknown as WorkersGlobals;
}

/** The 101 response that hands `client` to the caller (`webSocket` is a workerd extension). */
export function webSocketResponse(client: WebSocket): Response {
  return new Response(null, { status: 101, webSocket: client } as ResponseInit);
}
