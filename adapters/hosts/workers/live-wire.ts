/**
 * What travels between the Worker, the live publisher and the live hubs (live-hub.ts): the hubs'
 * names and the headers of a socket handed to one, and the items of a feed read as `POST
 * /publish` carries them, each rendered once per payload mode with the WebSocket tags of the
 * topics selecting it (publishing is `ctx.getWebSockets(tag)` per tag).
 */
import { encodeCursor } from "../../../src/live/cursor.ts";
import type { LiveBatch } from "../../../src/live/feed.ts";
import type { PayloadMode } from "../../../src/live/messages.ts";
import type { DurableObjectNamespace, DurableObjectStub } from "./types.ts";

/** The request header carrying the checked subscription (JSON `LiveSubscription`) to the hub. */
export const SUBSCRIPTION_HEADER = "x-observers-live-subscription";
/** The request header naming the API key that opened the socket (absent: the admin token). */
export const KEY_HEADER = "x-observers-live-key";
/** Hubs are reached through stubs only; the host is never resolved. */
export const HUB_ORIGIN = "https://live-hub.internal";

/** The name of the hub of a tenant (BIGINT as text), or of unscoped subscribers ("global"). */
export function hubName(tenant: string | null): string {
  return tenant === null ? "global" : `tenant:${tenant}`;
}

/** The stub of the hub of `tenant` (null: the global hub). */
export function hubStub(hubs: DurableObjectNamespace, tenant: string | null): DurableObjectStub {
  return hubs.get(hubs.idFromName(hubName(tenant)));
}

/** An item as rendered for one payload mode: the tags of the topics selecting it, and its text. */
export interface PublishedRendering {
  tags: string[];
  text: string;
}

/**
 * One item of the feed as hubs receive it. Its position is `cursor`'s in its stream (the feed's
 * cursor after an item is at that item in the item's stream).
 */
export interface PublishedItem {
  stream: "changes" | "executions";
  /** The feed's cursor after the item, encoded. */
  cursor: string;
  /** The tenant whose hub receives it (BIGINT as text; `LiveItem.tenant`), or null: global only. */
  tenant: string | null;
  meta: PublishedRendering;
  /** Changes only: with `payload=full` (executions render the same in both modes). */
  full?: PublishedRendering;
}

/** `POST /publish`: the items of one feed read that are meant for one hub, in feed order. */
export interface PublishedBatch {
  /** The feed's position the read started from (encoded), or null when initialising. */
  from: string | null;
  /** The feed's position after the read (encoded). */
  to: string;
  items: PublishedItem[];
}

/** Longest tag the hibernation API accepts. */
const MAX_TAG_LENGTH = 256;

/**
 * The WebSocket tag of a topic: the topic itself, or, past the runtime's 256 characters (an
 * `entity_type` of up to 255 characters, percent-encoded), `#` and its SHA-256 in hex.
 */
export async function topicTag(topic: string): Promise<string> {
  if (topic.length <= MAX_TAG_LENGTH) return topic;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(topic));
  return `#${Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function rendering(
  item: LiveBatch["items"][number],
  mode: PayloadMode,
): Promise<PublishedRendering> {
  return {
    tags: await Promise.all(item.topics(mode).map(topicTag)),
    text: item.text(mode),
  };
}

/** The serialisable form of a batch's items (`liveItems`), each rendered once per payload mode. */
export async function toPublishedItems(batch: LiveBatch): Promise<PublishedItem[]> {
  return Promise.all(
    batch.items.map(async (item): Promise<PublishedItem> => {
      const meta = await rendering(item, "meta");
      return {
        stream: item.stream,
        cursor: encodeCursor(item.cursor),
        // Who may receive it, not the change's tenant: a global observer's executions reach the
        // global hub only.
        tenant: item.tenant,
        meta,
        ...(item.stream === "changes" ? { full: await rendering(item, "full") } : {}),
      };
    }),
  );
}
