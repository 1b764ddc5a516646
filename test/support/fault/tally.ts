/**
 * Counting one fault round: what was captured (change-log rows) against what the receiver got
 * (webhook requests by `webhook-id`). Pure, so the counting itself is unit-tested
 * (test/unit/fault-tally.test.ts) and cannot pass a round by miscounting.
 */

/** What a receiver recorded in one round. */
export interface ReceivedLog {
  /** Every request to the round's URL. */
  requests: number;
  /** Requests without a `webhook-id` or without a readable `event_id`. */
  unreadable: number;
  /** Per `webhook-id`: how many requests carried it and which changes (`event_id`) they were for. */
  byWebhookId: Map<string, { count: number; events: Set<string> }>;
  /** `performance.now()` of the last request (0 before the first). */
  lastRequestAt: number;
}

/** One round's counts. `lost`, `split_ids`, `shared_ids`, `unexpected` and `unreadable` must be 0. */
export interface RoundCounts {
  /** Change-log rows: changes the database committed. */
  captured: number;
  /** Webhook requests received (first deliveries and repeats). */
  requests: number;
  /** Distinct webhook-ids received that carry a captured change. */
  delivered: number;
  /** Captured changes received more than once, and the requests beyond each one's first. */
  duplicated: number;
  extra_requests: number;
  /** Captured changes never received. */
  lost: number;
  /** Changes received under more than one webhook-id: a receiver deduplicating on it would run them twice. */
  split_ids: number;
  /** Webhook-ids received for more than one change. */
  shared_ids: number;
  /** Changes received that were never captured (nothing committed them). */
  unexpected: number;
  unreadable: number;
}

/** Counts a round: `captured` is every change-log id, `log` what the receiver got. */
export function tallyRound(captured: ReadonlySet<string>, log: ReceivedLog): RoundCounts {
  const idsByEvent = new Map<string, Set<string>>();
  const requestsByEvent = new Map<string, number>();
  let sharedIds = 0;
  let delivered = 0;
  for (const [webhookId, entry] of log.byWebhookId) {
    if (entry.events.size > 1) sharedIds++;
    if ([...entry.events].some((event) => captured.has(event))) delivered++;
    for (const event of entry.events) {
      const ids = idsByEvent.get(event) ?? new Set<string>();
      ids.add(webhookId);
      idsByEvent.set(event, ids);
      // A webhook-id shared by several events counts its requests against each: it is already
      // an error of its own (shared_ids), and must not hide a duplicate.
      requestsByEvent.set(event, (requestsByEvent.get(event) ?? 0) + entry.count);
    }
  }
  let lost = 0;
  let duplicated = 0;
  let extraRequests = 0;
  let splitIds = 0;
  for (const event of captured) {
    const requests = requestsByEvent.get(event) ?? 0;
    if (requests === 0) {
      lost++;
      continue;
    }
    if (requests > 1) {
      duplicated++;
      extraRequests += requests - 1;
    }
    if ((idsByEvent.get(event)?.size ?? 0) > 1) splitIds++;
  }
  let unexpected = 0;
  for (const event of idsByEvent.keys()) if (!captured.has(event)) unexpected++;
  return {
    captured: captured.size,
    requests: log.requests,
    delivered,
    duplicated,
    extra_requests: extraRequests,
    lost,
    split_ids: splitIds,
    shared_ids: sharedIds,
    unexpected,
    unreadable: log.unreadable,
  };
}

/** Every captured change received at least once (the round may end). */
export function everyChangeReceived(captured: ReadonlySet<string>, log: ReceivedLog): boolean {
  if (captured.size === 0) return true;
  const received = new Set<string>();
  for (const entry of log.byWebhookId.values())
    for (const event of entry.events) received.add(event);
  for (const event of captured) if (!received.has(event)) return false;
  return true;
}

/** What is wrong with a round's counts, in words; empty when it passed. */
export function roundProblems(counts: RoundCounts): string[] {
  const problems: string[] = [];
  if (counts.lost > 0) problems.push(`${counts.lost} captured changes never delivered`);
  if (counts.split_ids > 0) {
    problems.push(`${counts.split_ids} changes delivered under more than one webhook-id`);
  }
  if (counts.shared_ids > 0) {
    problems.push(`${counts.shared_ids} webhook-ids carried more than one change`);
  }
  if (counts.unexpected > 0) {
    problems.push(`${counts.unexpected} changes delivered that were never captured`);
  }
  if (counts.unreadable > 0) {
    problems.push(`${counts.unreadable} requests without a webhook-id or an event_id`);
  }
  if (counts.captured === 0)
    problems.push("nothing was captured: the load never reached the database");
  return problems;
}
