import { PGlite, type Results, type Transaction } from "@electric-sql/pglite";
import type {
  ListenHandlers,
  SqlClient,
  SqlExecutor,
  SqlListener,
} from "../../../src/ports/sql.ts";

/** Where the embedded database lives: a directory (kept across restarts), or memory only. */
export type EmbeddedClientOptions = { dataDir: string } | { memory: true };

/** The SQL port over PGlite; `db` is the instance itself (one PostgreSQL session). */
export interface EmbeddedClient extends SqlClient {
  readonly db: PGlite;
  listen(channel: string, handlers: ListenHandlers): Promise<SqlListener>;
}

/** What the socket server needs of a client: its in-process listeners, and to be closed with it. */
export interface EmbeddedInternals {
  /** Hands a notification raised by a socket client to in-process listeners; false if none. */
  deliver(channel: string, payload: string): boolean;
  /** Socket servers to stop before the database closes. */
  sockets: Set<() => Promise<void>>;
}

/** Internals of each client, for `startEmbeddedSocket` (not part of the public API). */
export const embeddedInternals = new WeakMap<EmbeddedClient, EmbeddedInternals>();

const INT8 = 20;

/**
 * The PGlite driver of the SQL port (https://pglite.dev): PostgreSQL compiled to WebAssembly, in
 * this process. BIGINT arrives as a string, as with postgres.js, so both drivers answer alike.
 * LISTEN never drops (there is no connection), so `onReconnect` is never called.
 */
export async function createEmbeddedClient(
  options: EmbeddedClientOptions,
): Promise<EmbeddedClient> {
  const db = await PGlite.create({
    ...("dataDir" in options ? { dataDir: options.dataDir } : {}),
    parsers: { [INT8]: (value: string) => value },
  });
  const listeners = new Map<string, Set<ListenHandlers>>();
  const internals: EmbeddedInternals = {
    deliver(channel, payload) {
      const handlers = listeners.get(channel);
      if (!handlers || handlers.size === 0) return false;
      for (const handler of handlers) handler.onNotify(payload);
      return true;
    },
    sockets: new Set(),
  };
  let closing: Promise<void> | undefined;

  const client: EmbeddedClient = {
    db,
    query: (text, params) => run(db, text, params),
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return db.transaction((tx) => fn({ query: (text, params) => run(tx, text, params) }));
    },
    async listen(channel, handlers) {
      // PGlite sends `LISTEN <channel>` as written: quoted, any channel name is safe.
      const unlisten = await db.listen(`"${channel.replaceAll('"', '""')}"`, (payload) =>
        handlers.onNotify(payload),
      );
      const set = listeners.get(channel) ?? new Set();
      set.add(handlers);
      listeners.set(channel, set);
      let closed = false;
      return {
        async close() {
          if (closed) return;
          closed = true;
          set.delete(handlers);
          if (!db.closed) await unlisten();
        },
      };
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...internals.sockets].map((stop) => stop()));
        if (!db.closed) await db.close();
      })();
      return closing;
    },
  };
  embeddedInternals.set(client, internals);
  return client;
}

function run<Row extends object>(
  db: PGlite | Transaction,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<Row[]>;
async function run(
  db: PGlite | Transaction,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<object[]> {
  if (params === undefined || params.length === 0) {
    // exec uses the simple protocol: several statements, one result each (row-less ones too).
    const results: Results[] = await db.exec(text);
    return results.findLast((result) => result.fields.length > 0)?.rows ?? [];
  }
  return (await db.query(text, [...params])).rows as object[];
}
