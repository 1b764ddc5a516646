/**
 * PGlite is one PostgreSQL session, shared by the runtime (in-process calls, which take PGlite's
 * transaction lock) and socket clients (wire messages, which pglite-socket runs one at a time
 * under PGlite's query lock only). pglite-socket's own queue keeps other socket clients out of a
 * client's open transaction, but nothing keeps the two sides apart, and it switches clients in
 * the middle of an exchange. Measured with pglite-socket 0.2.17, unguarded:
 * - a client's autocommit INSERT ran inside the runtime's open transaction and was rolled back
 *   with it, though the client had been told it succeeded;
 * - the runtime's statements ran inside a client's open transaction: it read uncommitted rows,
 *   and its COMMIT committed the client's half-done work (whose ROLLBACK then did nothing);
 * - postgres.js sends Parse/Describe/Flush, waits, then Bind/Execute/Sync: anything run in
 *   between replaces the client's unnamed statement and portal.
 *
 * This queue replaces pglite-socket's (same interface, handed to its PGLiteSocketHandler). A
 * client owns the session for a whole exchange: from its first message until PostgreSQL reports
 * ReadyForQuery with the session idle ('I'), i.e. through any transaction it opens. While it does,
 * it holds PGlite's transaction lock, so in-process callers wait, and other clients' messages
 * wait here. A client that disconnects mid-exchange is rolled back (or its half exchange ended
 * with a Sync) and the session handed on.
 */
import type { PGlite } from "@electric-sql/pglite";
import { BackendMessages } from "./backend-messages.ts";

interface Pending {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (size: number) => void;
  reject: (error: Error) => void;
}

const READY_FOR_QUERY = 0x5a; // 'Z'
const NOTIFICATION = 0x41; // 'A'
const TERMINATE = 0x58; // 'X'
const IDLE = 0x49; // 'I'
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** Serialises socket clients' exchanges with each other and with in-process use of `db`. */
export class SessionQueue {
  readonly #db: PGlite;
  readonly #deliver: (channel: string, payload: string) => boolean;
  #pending: Pending[] = [];
  #owner: number | undefined;
  #idle = true;
  #release: (() => void) | undefined;
  #pumping = false;

  /**
   * `deliver` receives the notifications raised by clients' statements: true means an in-process
   * listener took it, and the client (which shares the session's LISTENs) does not see it.
   */
  constructor(db: PGlite, deliver: (channel: string, payload: string) => boolean) {
    this.#db = db;
    this.#deliver = deliver;
  }

  /** Runs one wire message of a client when the session is its turn; resolves to bytes sent. */
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void) {
    return new Promise<number>((resolve, reject) => {
      this.#pending.push({ handlerId, message, onData, resolve, reject });
      void this.#pump();
    });
  }

  /** Drops a departed client's waiting messages. */
  clearQueueForHandler(handlerId: number): void {
    const mine = this.#pending.filter((p) => p.handlerId === handlerId);
    this.#pending = this.#pending.filter((p) => p.handlerId !== handlerId);
    for (const p of mine) p.reject(new Error("client disconnected"));
  }

  /** A client left: if it owned the session, undo what it left open and hand the session on. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    if (this.#db.isInTransaction()) await this.#raw(simpleQuery("ROLLBACK"));
    else if (!this.#idle) await this.#raw(SYNC);
    this.#handOn();
    void this.#pump();
  }

  /** Lets go of the session for good (the server is stopping; its clients are gone). */
  async dispose(): Promise<void> {
    for (const p of this.#pending.splice(0)) p.reject(new Error("server stopped"));
    if (this.#owner !== undefined) await this.clearTransactionIfNeeded(this.#owner);
    this.#handOn();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const owner = this.#owner;
        const index =
          owner === undefined ? 0 : this.#pending.findIndex((p) => p.handlerId === owner);
        const next = index < 0 ? undefined : this.#pending.splice(index, 1)[0];
        if (!next) return;
        this.#owner = next.handlerId;
        try {
          await this.#hold();
          next.resolve(await this.#run(next));
        } catch (error: unknown) {
          // The client's handler detaches on this, which cleans up through the method above.
          next.reject(error instanceof Error ? error : new Error(String(error)));
        }
        if (this.#idle) this.#handOn();
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #run(p: Pending): Promise<number> {
    const db = this.#db;
    // PGlite ignores Terminate: the session stays as the client left it, perhaps mid-transaction.
    this.#idle = p.message[0] === TERMINATE && !db.isInTransaction();
    let size = 0;
    const send = (data: Uint8Array) => {
      size += data.length;
      p.onData(data);
    };
    const messages = new BackendMessages((type, message) => {
      if (type === READY_FOR_QUERY) this.#idle = message[5] === IDLE;
      if (type !== NOTIFICATION) return true;
      const { channel, payload } = BackendMessages.notification(message);
      return !this.#deliver(channel, payload);
    });
    await db.runExclusive(() =>
      db.execProtocolRawStream(p.message, {
        onRawData: (data) => {
          const kept = messages.push(data);
          if (kept.length > 0) send(kept);
        },
      }),
    );
    const rest = messages.rest();
    if (rest.length > 0) send(rest);
    return size;
  }

  async #hold(): Promise<void> {
    if (this.#release) return;
    await new Promise<void>((acquired) => {
      void this.#db._runExclusiveTransaction(
        () =>
          new Promise<void>((done) => {
            this.#release = done;
            acquired();
          }),
      );
    });
  }

  #handOn(): void {
    this.#owner = undefined;
    this.#idle = true;
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  // Under the query lock only: this queue already holds the transaction lock db.exec would take.
  async #raw(message: Uint8Array): Promise<void> {
    await this.#db
      .runExclusive(() => this.#db.execProtocolStream(message, { throwOnError: false }))
      .catch(() => {});
  }
}

function simpleQuery(text: string): Uint8Array {
  const body = new TextEncoder().encode(`${text}\0`);
  const message = new Uint8Array(5 + body.length);
  message[0] = 0x51; // 'Q'
  new DataView(message.buffer).setInt32(1, 4 + body.length);
  message.set(body, 5);
  return message;
}
