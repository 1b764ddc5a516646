/**
 * Open WebSockets outlive the request that authenticated them, so a revoked key's sockets must be
 * found and closed: the instance that revokes a key closes its own at once (`revoked`), and every
 * instance re-checks the keys of its open sockets every `intervalMs`, with one query for all of
 * them, so a key revoked on another instance (or by hand in SQL) is closed within that bound.
 */
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { liveApiKeyIds } from "../store/api-keys.ts";

/** Close code for a socket whose key was revoked (RFC 6455: policy violation). */
export const REVOKED_CLOSE = 1008;
export const REVOKED_REASON = "the API key was revoked";
/** Default of `OBSERVERS_LIVE_KEY_CHECK_MS`. */
export const DEFAULT_KEY_CHECK_MS = 5_000;

/** Options of `createKeyWatch`. */
export interface KeyWatchOptions {
  sql: SqlExecutor;
  logger: Logger;
  /** How often the open sockets' keys are re-checked (default 5 000 ms). */
  intervalMs?: number;
  /** Called with keys found revoked: close their sockets. */
  onRevoked(keyIds: ReadonlySet<string>): void;
}

/** The keys of open sockets, counted; checked while at least one is open. */
export interface KeyWatch {
  /** A socket authenticated by `keyId` opened. */
  add(keyId: string): void;
  /** One of `keyId`'s sockets closed. */
  remove(keyId: string): void;
  /** Stops checking (shutdown). */
  stop(): void;
}

/** Re-checks the keys of open sockets every `intervalMs` (see the file comment). */
export function createKeyWatch(options: KeyWatchOptions): KeyWatch {
  const { sql, logger } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_KEY_CHECK_MS;
  const counts = new Map<string, number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  function schedule(): void {
    if (timer !== undefined || stopped || counts.size === 0) return;
    timer = setTimeout(() => void check(), intervalMs);
  }

  async function check(): Promise<void> {
    const ids = [...counts.keys()];
    try {
      const live = await liveApiKeyIds(sql, ids);
      const revoked = new Set(ids.filter((id) => !live.has(id) && counts.has(id)));
      if (revoked.size > 0 && !stopped) options.onRevoked(revoked);
    } catch (error) {
      // A failed check is retried at the next one; the sockets stay open meanwhile.
      logger.log("warn", "live key check failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    timer = undefined;
    schedule();
  }

  return {
    add(keyId) {
      counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
      schedule();
    },
    remove(keyId) {
      const left = (counts.get(keyId) ?? 0) - 1;
      if (left > 0) counts.set(keyId, left);
      else counts.delete(keyId);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
