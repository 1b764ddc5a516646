/**
 * Batching (docs/delivery.md, "Batches"): an action with `batch: {max_size, max_wait_ms}` has its
 * due deliveries sent together, up to `max_size` in one request, after waiting at most
 * `max_wait_ms` for the group to fill. The settings are validated here (`batchSchema`, part of the
 * webhook's schema), read from a stored config by the dispatcher (`batchSettingsOf`) and a batch's
 * id is derived here (`batchIdOf`).
 */
import * as v from "valibot";
import { notArray } from "../validation.ts";

/** Most deliveries one batch carries. */
export const MAX_BATCH_SIZE = 1000;
/**
 * Longest a batch waits to fill: a third of the default 30 s lease. Waiting members' leases are
 * renewed like running ones, so a shorter `OBSERVERS_LEASE_MS` stays safe; the bound keeps a
 * waiting delivery from holding its lease for long and fits a Worker tick's 20 s budget.
 */
export const MAX_BATCH_WAIT_MS = 10_000;
/** `max_wait_ms` when not given. */
export const DEFAULT_BATCH_WAIT_MS = 1_000;

/** The `batch` field of an action that can batch. */
export const batchSchema = v.pipe(
  v.unknown(),
  notArray(),
  v.strictObject({
    max_size: v.pipe(
      v.number(),
      v.safeInteger("must be an integer"),
      v.minValue(1, "must be at least 1"),
      v.maxValue(MAX_BATCH_SIZE, `must be at most ${MAX_BATCH_SIZE}`),
      v.description("Most changes one request carries"),
    ),
    max_wait_ms: v.optional(
      v.pipe(
        v.number(),
        v.safeInteger("must be an integer"),
        v.minValue(0, "must be at least 0"),
        v.maxValue(MAX_BATCH_WAIT_MS, `must be at most ${MAX_BATCH_WAIT_MS} (10 seconds)`),
        v.description(
          `Longest the oldest due change waits for the batch to fill, in milliseconds; default ${DEFAULT_BATCH_WAIT_MS}`,
        ),
      ),
    ),
  }),
);

/** Validated `batch` settings. */
export type BatchConfig = v.InferOutput<typeof batchSchema>;

/** What the dispatcher needs of a batch: how many, how long. */
export interface BatchSettings {
  maxSize: number;
  maxWaitMs: number;
}

const settingsCache = new WeakMap<object, BatchSettings | null>();

/**
 * The batch settings of a stored action config (as parsed from the observer row), or null when it
 * does not batch. Read without validating (the executor validates the config and fails every
 * member of a batch whose config is invalid); values out of range are clamped so a config written
 * straight into the table cannot make the dispatcher hold deliveries forever.
 */
export function batchSettingsOf(action: unknown): BatchSettings | null {
  if (typeof action !== "object" || action === null) return null;
  const cached = settingsCache.get(action);
  if (cached !== undefined) return cached;
  const batch = (action as { batch?: unknown }).batch;
  let settings: BatchSettings | null = null;
  if (typeof batch === "object" && batch !== null && !Array.isArray(batch)) {
    const { max_size, max_wait_ms } = batch as Record<string, unknown>;
    const size = typeof max_size === "number" && Number.isFinite(max_size) ? max_size : 1;
    const wait =
      typeof max_wait_ms === "number" && Number.isFinite(max_wait_ms)
        ? max_wait_ms
        : DEFAULT_BATCH_WAIT_MS;
    settings = {
      maxSize: Math.min(MAX_BATCH_SIZE, Math.max(1, Math.floor(size))),
      maxWaitMs: Math.min(MAX_BATCH_WAIT_MS, Math.max(0, Math.floor(wait))),
    };
  }
  settingsCache.set(action, settings);
  return settings;
}

/**
 * A batch's id (its `webhook-id`): a UUID (version 8, RFC 9562) from SHA-256 of its members'
 * delivery ids, sorted. The same members give the same id, so a batch retried with exactly its
 * members keeps its idempotency key; a batch of other members gets another id, and receivers
 * deduplicate its events by each event's own `id` (the delivery's webhook-id).
 */
export async function batchIdOf(memberIds: readonly string[]): Promise<string> {
  const text = [...memberIds].sort().join(",");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`batch:${text}`)),
  );
  const bytes = digest.slice(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
