/**
 * Publishing the live feed to the hubs (live-hub.ts), for hosts without a long-running process:
 * the cron tick calls `publishLive` after its work, and so may the API after a write.
 *
 * Where the feed is: the "global" hub receives every item (its unscoped admin sockets see every
 * tenant), so its stored position is the feed's position; nothing else is stored. A run reads the
 * rows after it (gap-free, below the xmin horizon: `readLiveBatch`, as the Bun feed reads), builds the
 * items once, posts each tenant's hub its tenant's items and only then the global hub all of
 * them: when the global hub's position has moved past an item, every hub has been handed it.
 * A failed run leaves the position where it was and the next run reads the same rows again; two
 * runs at once post the same items twice and the hubs drop what they already have (their own
 * positions), so publishing needs no lock.
 *
 * The very first run (a global hub with no position) only records the tables' current end: the
 * history before it is not sent live (a client with `since` still gets it from the replay).
 */
import { decodeCursor, encodeCursor, type LiveCursor } from "../../../src/live/cursor.ts";
import { readLiveBatch } from "../../../src/live/feed.ts";
import type { SqlExecutor } from "../../../src/ports/sql.ts";
import { readLivePositions } from "../../../src/store/live.ts";
import {
  HUB_ORIGIN,
  hubStub,
  type PublishedBatch,
  type PublishedItem,
  toPublishedItems,
} from "./live-wire.ts";
import type { DurableObjectNamespace, DurableObjectStub } from "./types.ts";

/** The bindings publishing needs: the hubs' Durable Object namespace. */
export interface LiveHubBindings {
  LIVE_HUB: DurableObjectNamespace;
}

/** Options of `publishLive`. */
export interface PublishLiveOptions {
  /** Rows of each table per read (default 1 000). */
  batchSize?: number;
  /** Reads per run at most; the next run goes on from there (default 10). */
  maxBatches?: number;
}

/** What one run did. */
export interface PublishLiveResult {
  /** The feed's position after the run (encoded). */
  position: string;
  /** Items published. */
  items: number;
  /** Reads that found something. */
  batches: number;
}

async function checked(response: Response, what: string): Promise<Response> {
  if (!response.ok) {
    throw new Error(`live hub ${what} answered ${response.status}: ${await response.text()}`);
  }
  return response;
}

/** The feed's position (the global hub's), or null before the first run. */
export async function feedPosition(hubs: DurableObjectNamespace): Promise<LiveCursor | null> {
  const response = await checked(
    await hubStub(hubs, null).fetch(`${HUB_ORIGIN}/position`),
    "position",
  );
  const { position } = (await response.json()) as { position: string | null };
  return position === null ? null : decodeCursor(position);
}

async function post(hub: DurableObjectStub, batch: PublishedBatch): Promise<string> {
  const response = await checked(
    await hub.fetch(`${HUB_ORIGIN}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(batch),
    }),
    "publish",
  );
  return ((await response.json()) as { position: string }).position;
}

/** Reads what is new since the feed's position and posts it to the hubs (see above). */
export async function publishLive(
  env: LiveHubBindings,
  sql: SqlExecutor,
  options: PublishLiveOptions = {},
): Promise<PublishLiveResult> {
  const batchSize = options.batchSize ?? 1_000;
  const maxBatches = options.maxBatches ?? 10;
  const global = hubStub(env.LIVE_HUB, null);
  let from = await feedPosition(env.LIVE_HUB);
  if (from === null) {
    const end = encodeCursor(await readLivePositions(sql));
    return {
      position: await post(global, { from: null, to: end, items: [] }),
      items: 0,
      batches: 0,
    };
  }
  let items = 0;
  let batches = 0;
  for (let more = true; more && batches < maxBatches; ) {
    const read = await readLiveBatch(sql, from, batchSize);
    if (!read) break;
    more = read.more;
    const to = read.batch.cursor;
    const published = await toPublishedItems(read.batch);
    const byTenant = new Map<string, PublishedItem[]>();
    for (const item of published) {
      if (item.tenant === null) continue;
      const list = byTenant.get(item.tenant);
      if (list) list.push(item);
      else byTenant.set(item.tenant, [item]);
    }
    const range = { from: encodeCursor(from), to: encodeCursor(to) };
    await Promise.all(
      [...byTenant].map(([tenant, list]) =>
        post(hubStub(env.LIVE_HUB, tenant), { ...range, items: list }),
      ),
    );
    await post(global, { ...range, items: published });
    from = to;
    items += published.length;
    batches++;
  }
  return { position: encodeCursor(from), items, batches };
}
