import { normalizeChangeEvent } from "../events/normalize.ts";
import { createMatcher } from "../matcher/matcher.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { orderingKey } from "../store/deliveries.ts";
import {
  failReplay,
  type ReplayDelivery,
  readReplayPage,
  releaseReplay,
  takeReplay,
  writeReplayPage,
} from "../store/replay-pages.ts";

/** What a replay round needs from the runtime. */
export interface ReplayRoundOptions {
  sql: SqlExecutor;
  owner: string;
  leaseMs: number;
  /** Changes read per page (default 500). */
  pageSize?: number;
  /** Pages written per round at most (default 20): the rest waits for the next round. */
  maxPages?: number;
  /** Whether to stop early (the runtime is stopping). */
  stopped(): boolean;
}

/** What one round did. */
export interface ReplayRound {
  /** Deliveries created (due now, for any runtime to claim). */
  created: number;
  /** A replay is still running: run another round soon. */
  more: boolean;
}

/**
 * Works one running replay (src/store/replay-pages.ts) for a few pages: reads its range after the
 * cursor in commit order, matches each change against the observer's current entity type, event
 * type and condition (the matcher ingest uses), and writes each page's deliveries with the cursor.
 * A page the cursor check refuses (cancelled, or another runtime took the lease) ends the round.
 */
export async function runReplayRound(options: ReplayRoundOptions): Promise<ReplayRound> {
  const { sql, owner, leaseMs } = options;
  const pageSize = options.pageSize ?? 500;
  const maxPages = options.maxPages ?? 20;
  const replay = await takeReplay(sql, owner, leaseMs);
  if (!replay) return { created: 0, more: false };
  if (replay.observer.deleted) {
    await failReplay(sql, replay, owner, "the observer was deleted");
    return { created: 0, more: true };
  }
  const matcher = createMatcher([{ ...replay.observer, enabled: true, priority: 0 }]);
  let created = 0;
  for (let page = 0; page < maxPages && !options.stopped(); page++) {
    const rows = await readReplayPage(sql, replay, pageSize);
    const last = rows.at(-1);
    const deliveries: ReplayDelivery[] = [];
    let matched = 0;
    for (const change of rows) {
      let fires = false;
      try {
        fires = matcher.match(normalizeChangeEvent(change)).matched.length > 0;
      } catch {
        // A change the runtime could not read was never delivered: nor is it replayed.
      }
      if (!fires) continue;
      matched++;
      for (let index = 0; index < replay.observer.actions; index++) {
        deliveries.push({
          change,
          actionIndex: index,
          ordering: replay.observer.perEntity
            ? { key: orderingKey(change), txid: change.transaction_id }
            : null,
        });
      }
    }
    const done = rows.length < pageSize;
    const written = await writeReplayPage(sql, replay, {
      owner,
      leaseMs,
      to: last
        ? { txid: last.transaction_id, id: last.pk_entity_change_log }
        : { txid: replay.cursorTxid, id: replay.cursorId },
      scanned: rows.length,
      matched,
      last: done,
      deliveries,
    });
    if (!written) return { created, more: false };
    created += deliveries.length;
    if (done) return { created, more: true };
  }
  // Stopping (a Worker's tick ends, a server shuts down): let the next runtime resume at once
  // rather than after the lease.
  if (options.stopped()) await releaseReplay(sql, replay, owner);
  return { created, more: true };
}
