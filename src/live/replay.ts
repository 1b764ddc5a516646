import type { SqlExecutor } from "../ports/sql.ts";
import { readLiveChanges, readLiveExecutions } from "../store/live.ts";
import { type LiveCursor, later } from "./cursor.ts";
import { liveItems } from "./feed.ts";
import type { LiveSubscription } from "./subscription.ts";

/** Rows read per page of a replay. */
const PAGE_SIZE = 500;

/**
 * Sends a resuming subscriber what it missed, from the tables: its changes after `from` up to
 * `to` (the live feed's position when it resumed), then its executions likewise, each message
 * with a cursor that never goes back behind `from`. `send` returns false to stop (the socket
 * closed or fell behind). Resolves to the cursor reached.
 */
export async function replay(
  sql: SqlExecutor,
  subscription: LiveSubscription,
  from: LiveCursor,
  to: LiveCursor,
  send: (text: string) => boolean | Promise<boolean>,
): Promise<LiveCursor | null> {
  let cursor = from;
  for (;;) {
    const rows = await readLiveChanges(
      sql,
      cursor.changes,
      to.changes,
      PAGE_SIZE,
      subscription.changes,
    );
    for (const item of liveItems(rows, [], cursor)) {
      if (!(await send(item.text(subscription.payload)))) return null;
      cursor = item.cursor;
    }
    if (rows.length < PAGE_SIZE) break;
  }
  cursor = { ...cursor, changes: later(cursor.changes, to.changes) };
  for (;;) {
    const rows = await readLiveExecutions(
      sql,
      cursor.executions,
      to.executions,
      PAGE_SIZE,
      subscription.executions,
    );
    for (const item of liveItems([], rows, cursor)) {
      if (!(await send(item.text(subscription.payload)))) return null;
      cursor = item.cursor;
    }
    if (rows.length < PAGE_SIZE) break;
  }
  return { ...cursor, executions: later(cursor.executions, to.executions) };
}
