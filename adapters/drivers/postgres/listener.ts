import postgres from "postgres";
import { computeBackoff } from "../../../src/executor/backoff.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { ListenHandlers, SqlListener } from "../../../src/ports/sql.ts";

/** Delays between re-listen attempts: full jitter, doubling from `initialMs` up to `maxMs`. */
export interface ListenBackoff {
  initialMs: number;
  maxMs: number;
}

type PostgresOptions = postgres.Options<Record<string, postgres.PostgresType>>;

/**
 * Where a connection of ours goes: a URL, or the server and credentials of an existing pool
 * (`postgresTarget(sql.options)`), so a host's postgres.js instance can be listened and pooled
 * beside.
 */
export type ConnectionTarget = string | ConnectionServer;

/**
 * A server as postgres.js keeps it parsed: every host and port of a multi-host URL as lists
 * (postgres.js 3 takes them so, though its types declare one of each), and the settings it reads
 * without declaring them.
 */
export interface ConnectionServer
  extends Omit<PostgresOptions, "host" | "port" | "ssl" | "target_session_attrs"> {
  host: string[];
  port: number[];
  ssl?: PostgresOptions["ssl"] | object;
  /** "direct": TLS from the first byte, without PostgreSQL's SSLRequest. */
  sslnegotiation?: "postgres" | "direct";
  /** The pool's socket factory, for a connection of the same kind. */
  socket?: unknown;
  target_session_attrs?: PostgresOptions["target_session_attrs"];
}

/**
 * A postgres.js 3 instance to `target` with `options`: how the pools of `createPostgresClient`,
 * and every LISTEN connection, connect. A server's own connection parameters (those of the pool
 * it was read from, e.g. `search_path`) come first, those of `options` (`application_name`,
 * `statement_timeout`) over them.
 */
export function connectPostgres(target: ConnectionTarget, options: PostgresOptions): postgres.Sql {
  if (typeof target === "string") return postgres(target, options);
  // postgres.js 3 reads lists of hosts and ports, `sslnegotiation` and `socket` as it keeps them
  // parsed, though its option types declare a single host and port and neither setting.
  return postgres({
    ...target,
    ...options,
    connection: { ...target.connection, ...options.connection },
  } as PostgresOptions);
}

/** Options of `listenWithReconnect`. */
export interface ListenerOptions {
  /** Connection options shared with the pool (timeouts, notices, application_name). */
  postgresOptions: postgres.Options<Record<string, postgres.PostgresType>>;
  backoff: ListenBackoff;
  random: () => number;
  logger?: Logger;
}

/**
 * `LISTEN channel` on a connection of its own that comes back when it drops. postgres.js's
 * `sql.listen` reconnects too, but on its own schedule (up to 20 s between tries, retried only
 * when a query is queued) and without saying so; here a lost connection is noticed when its
 * socket closes, re-listened with our backoff, and reported through `onReconnect`.
 * Rejects when the first LISTEN fails.
 */
export async function listenWithReconnect(
  target: ConnectionTarget,
  channel: string,
  handlers: ListenHandlers,
  options: ListenerOptions,
): Promise<SqlListener> {
  const statement = `LISTEN "${channel.replaceAll('"', '""')}"`;
  const policy = {
    max_attempts: Number.MAX_SAFE_INTEGER,
    backoff_strategy: "exponential",
    initial_delay_ms: options.backoff.initialMs,
    max_delay_ms: options.backoff.maxMs,
  } as const;
  let closed = false;
  let reconnecting = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  // `onnotify` is a postgres.js option its types do not declare.
  const connectionOptions: postgres.Options<Record<string, postgres.PostgresType>> & {
    onnotify: (channel: string, payload: string) => void;
  } = {
    ...options.postgresOptions,
    max: 1,
    idle_timeout: 0,
    // A listener has no reason to be recycled: each recycle would lose notifications.
    max_lifetime: null,
    fetch_types: false,
    // Our loop is the only backoff; postgres.js would add its own on top.
    backoff: () => 0,
    onnotify: (name, payload) => {
      if (!closed && name === channel) handlers.onNotify(payload);
    },
    onclose: () => {
      if (!closed && !reconnecting) {
        reconnecting = true;
        options.logger?.log("warn", "LISTEN connection lost; listening again", { channel });
        schedule();
      }
    },
  };
  const sql = connectPostgres(target, connectionOptions);

  function schedule() {
    failures += 1;
    timer = setTimeout(relisten, computeBackoff(failures, policy, options.random));
  }

  async function relisten() {
    timer = undefined;
    if (closed) return;
    try {
      await sql.unsafe(statement);
    } catch (error: unknown) {
      if (closed) return;
      options.logger?.log("debug", "re-LISTEN failed; trying again", {
        channel,
        attempt: failures,
        error: error instanceof Error ? error.message : String(error),
      });
      schedule();
      return;
    }
    if (closed) return;
    reconnecting = false;
    failures = 0;
    options.logger?.log("info", "listening again", { channel });
    handlers.onReconnect?.();
  }

  try {
    await sql.unsafe(statement);
  } catch (error) {
    closed = true;
    await sql.end({ timeout: 0 }).catch(() => {});
    throw error;
  }

  let ending: Promise<void> | undefined;
  return {
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      ending ??= sql.end({ timeout: 5 });
      return ending;
    },
  };
}
