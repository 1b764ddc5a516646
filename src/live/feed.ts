import { toObserversError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlExecutor } from "../ports/sql.ts";
import { createCoalescedTask } from "../runtime/coalesced-task.ts";
import type { ChangeRow } from "../store/change-log.ts";
import {
  type ExecutionRow,
  readLiveChanges,
  readLiveExecutions,
  readLivePositions,
} from "../store/live.ts";
import { encodeCursor, isAfter, type LiveCursor, later, type StreamPosition } from "./cursor.ts";
import { changeEventType, changeMessage, executionMessage, type PayloadMode } from "./messages.ts";
import { changeTopicsOf, executionTopicsOf } from "./topics.ts";

/** One message of the feed, rendered once per payload mode however many subscribers get it. */
export interface LiveItem {
  stream: "changes" | "executions";
  position: StreamPosition;
  /**
   * The tenant whose subscribers may receive it (BIGINT as text), or null for unscoped
   * subscribers only: a change's tenant; an execution's only when its observer is that tenant's.
   */
  tenant: string | null;
  /** The feed's cursor after this item. */
  cursor: LiveCursor;
  /** Topics selecting it (see topics.ts): changes have one list per payload mode. */
  topics(mode: PayloadMode): readonly string[];
  /** The message as JSON text; `cursor` replaces the feed's (for a subscriber catching up). */
  text(mode: PayloadMode, cursor?: LiveCursor): string;
}

/** What one read of the tables found, in the order it is sent: changes, then executions. */
export interface LiveBatch {
  items: LiveItem[];
  /** The feed's position after the batch. */
  cursor: LiveCursor;
}

/** Builds the items of a batch from rows, numbering cursors from `from`. */
export function liveItems(
  changes: readonly ChangeRow[],
  executions: readonly ExecutionRow[],
  from: LiveCursor,
): LiveItem[] {
  const items: LiveItem[] = [];
  let cursor = from;
  for (const row of changes) {
    const position = { transactionId: row.transaction_id, id: row.pk_entity_change_log };
    cursor = { ...cursor, changes: position };
    items.push(changeItem(row, position, cursor));
  }
  for (const row of executions) {
    const position = { transactionId: row.transaction_id, id: row.pk_observer_log };
    cursor = { ...cursor, executions: position };
    items.push(executionItem(row, position, cursor));
  }
  return items;
}

function changeItem(row: ChangeRow, position: StreamPosition, cursor: LiveCursor): LiveItem {
  const fields = {
    tenant: row.fk_customer_org,
    entityType: row.object_type,
    eventType: String(changeEventType(row)),
  };
  const topics: Partial<Record<PayloadMode, string[]>> = {};
  const texts: Partial<Record<PayloadMode, string>> = {};
  return {
    stream: "changes",
    position,
    tenant: row.fk_customer_org,
    cursor,
    topics: (mode) => {
      topics[mode] ??= changeTopicsOf(fields, mode);
      return topics[mode];
    },
    text(mode, override) {
      if (override) return JSON.stringify(changeMessage(row, encodeCursor(override), mode));
      texts[mode] ??= JSON.stringify(changeMessage(row, encodeCursor(cursor), mode));
      return texts[mode];
    },
  };
}

function executionItem(row: ExecutionRow, position: StreamPosition, cursor: LiveCursor): LiveItem {
  let topics: string[] | undefined;
  let text: string | undefined;
  return {
    stream: "executions",
    position,
    tenant: row.audience,
    cursor,
    topics: () => {
      // A global observer's executions go to unscoped topics only, whatever the change's tenant.
      topics ??= executionTopicsOf({
        tenant: row.audience,
        entityType: row.entity_type,
        eventType: row.event_type,
        observerId: row.observer_id,
      });
      return topics;
    },
    text(_mode, override) {
      if (override) return JSON.stringify(executionMessage(row, encodeCursor(override)));
      text ??= JSON.stringify(executionMessage(row, encodeCursor(cursor)));
      return text;
    },
  };
}

/**
 * The next batch after `from`: both streams up to the ends one snapshot saw (so an execution is
 * never handed out before the change it ran for, whose transaction is older), at most `limit`
 * rows of each; null when there is nothing new. `more`: a stream filled its limit.
 */
export async function readLiveBatch(
  sql: SqlExecutor,
  from: LiveCursor,
  limit: number,
): Promise<{ batch: LiveBatch; more: boolean } | null> {
  const end = await readLivePositions(sql);
  const newChanges = isAfter(end.changes, from.changes);
  const newExecutions = isAfter(end.executions, from.executions);
  if (!newChanges && !newExecutions) return null;
  const [changes, executions] = await Promise.all([
    newChanges ? readLiveChanges(sql, from.changes, end.changes, limit) : [],
    newExecutions ? readLiveExecutions(sql, from.executions, end.executions, limit) : [],
  ]);
  const items = liveItems(changes, executions, from);
  const last = items.at(-1);
  if (!last) return null;
  return {
    batch: { items, cursor: last.cursor },
    more: changes.length === limit || executions.length === limit,
  };
}

/** The live feed: tails both tables and hands every batch to its listeners. */
export interface LiveFeed {
  /** Everything up to here has been handed out. */
  readonly position: LiveCursor;
  /** Starts at the tables' current end (nothing older is sent live). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Look now (the runtime committed something). */
  wake(): void;
  /** Called with every batch, in order; returns a function that removes the listener. */
  onBatch(listener: (batch: LiveBatch) => void): () => void;
}

/** Options of `createLiveFeed`. */
export interface LiveFeedOptions {
  sql: SqlExecutor;
  clock: Clock;
  logger: Logger;
  /** Look at the tables this often even without a wake-up (default 1 000 ms). */
  pollIntervalMs?: number;
  /** Rows of each table per read (default 1 000). */
  batchSize?: number;
  /**
   * How long `stop` waits for a read in flight (default 5 000 ms). Past it, stop returns: the read
   * only feeds listeners, which are closing, and whoever ends the SQL client ends the read (a
   * query whose connection died can stay pending in the driver; it must not hold shutdown).
   */
  stopTimeoutMs?: number;
}

/**
 * Tails the change log and the delivery log in their gap-free order. One read serves every
 * subscriber of the process: the listeners publish each batch by topic.
 */
export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const { sql, clock, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 1_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  const listeners = new Set<(batch: LiveBatch) => void>();
  let position: LiveCursor | null = null;
  let running = false;
  let timer: unknown = null;

  const read = createCoalescedTask(
    async () => {
      for (let more = true; more && running && position; ) {
        const next = await readLiveBatch(sql, position, batchSize);
        if (!next) break;
        more = next.more;
        position = next.batch.cursor;
        const { batch } = next;
        for (const listener of listeners) {
          try {
            listener(batch);
          } catch (error) {
            logger.log("error", "live listener failed", { error: toObserversError(error).message });
          }
        }
      }
    },
    (error) => {
      logger.log("warn", "live feed read failed; retrying at the next poll", {
        error: toObserversError(error).message,
      });
    },
  );

  function poll(): void {
    timer = clock.setTimeout(() => {
      if (!running) return;
      void read.run();
      poll();
    }, pollIntervalMs);
  }

  return {
    get position() {
      if (!position) throw new Error("the live feed has not started");
      return position;
    },
    async start() {
      if (running) return;
      position = await readLivePositions(sql);
      running = true;
      poll();
    },
    async stop() {
      running = false;
      clock.clearTimeout(timer);
      const inFlight = read.running;
      if (inFlight === null) return;
      let waited: unknown = null;
      const timedOut = new Promise<"timeout">((resolve) => {
        waited = clock.setTimeout(() => resolve("timeout"), stopTimeoutMs);
      });
      const ended = await Promise.race([inFlight.then(() => "read" as const), timedOut]);
      clock.clearTimeout(waited);
      if (ended === "timeout") {
        logger.log("warn", "live feed stopped with a read still in flight", { stopTimeoutMs });
      }
    },
    wake() {
      if (running) void read.run();
    },
    onBatch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The later of two cursors, stream by stream. */
export function laterCursor(a: LiveCursor, b: LiveCursor): LiveCursor {
  return { changes: later(a.changes, b.changes), executions: later(a.executions, b.executions) };
}

/** Whether a cursor has reached `target` in both streams. */
export function reached(cursor: LiveCursor, target: LiveCursor): boolean {
  return !isAfter(target.changes, cursor.changes) && !isAfter(target.executions, cursor.executions);
}
