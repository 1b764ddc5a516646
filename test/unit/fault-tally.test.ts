/**
 * The fault suite's counting (test/support/fault/tally.ts): a round passes only if every captured
 * change arrived and every repeat carried the original's webhook-id, so the counting itself must
 * catch each way of failing.
 */
import { describe, expect, it } from "vitest";
import {
  everyChangeReceived,
  type ReceivedLog,
  roundProblems,
  tallyRound,
} from "../support/fault/tally.ts";

/** A receiver log from (webhook-id, event) requests, in arrival order. */
function received(...requests: [string, string][]): ReceivedLog {
  const log: ReceivedLog = { requests: 0, unreadable: 0, byWebhookId: new Map(), lastRequestAt: 1 };
  for (const [id, event] of requests) {
    log.requests++;
    const entry = log.byWebhookId.get(id) ?? { count: 0, events: new Set<string>() };
    entry.count++;
    entry.events.add(event);
    log.byWebhookId.set(id, entry);
  }
  return log;
}

const captured = new Set(["e1", "e2", "e3"]);

describe("tallyRound", () => {
  it("counts a clean round: everything delivered once", () => {
    const counts = tallyRound(captured, received(["w1", "e1"], ["w2", "e2"], ["w3", "e3"]));
    expect(counts).toMatchObject({
      captured: 3,
      requests: 3,
      delivered: 3,
      duplicated: 0,
      lost: 0,
    });
    expect(roundProblems(counts)).toEqual([]);
  });

  it("accepts a repeat under the same webhook-id as a duplicate", () => {
    const counts = tallyRound(
      captured,
      received(["w1", "e1"], ["w2", "e2"], ["w1", "e1"], ["w3", "e3"], ["w1", "e1"]),
    );
    expect(counts).toMatchObject({ delivered: 3, duplicated: 1, extra_requests: 2, split_ids: 0 });
    expect(roundProblems(counts)).toEqual([]);
  });

  it("fails a repeat under another webhook-id: receivers could not deduplicate it", () => {
    const counts = tallyRound(
      captured,
      received(["w1", "e1"], ["w2", "e2"], ["w3", "e3"], ["w9", "e1"]),
    );
    expect(counts).toMatchObject({ duplicated: 1, split_ids: 1, lost: 0 });
    expect(roundProblems(counts)).toEqual(["1 changes delivered under more than one webhook-id"]);
  });

  it("fails a change never delivered", () => {
    const counts = tallyRound(captured, received(["w1", "e1"], ["w3", "e3"]));
    expect(counts).toMatchObject({ delivered: 2, lost: 1 });
    expect(roundProblems(counts)).toEqual(["1 captured changes never delivered"]);
    expect(everyChangeReceived(captured, received(["w1", "e1"], ["w3", "e3"]))).toBe(false);
  });

  it("fails a delivery of a change nobody captured, and a webhook-id shared by two changes", () => {
    const counts = tallyRound(
      captured,
      received(["w1", "e1"], ["w2", "e2"], ["w3", "e3"], ["w4", "ghost"], ["w1", "e2"]),
    );
    expect(counts).toMatchObject({ unexpected: 1, shared_ids: 1, lost: 0 });
    expect(roundProblems(counts)).toEqual([
      "1 changes delivered under more than one webhook-id",
      "1 webhook-ids carried more than one change",
      "1 changes delivered that were never captured",
    ]);
  });

  it("fails a round that captured nothing (the fault stopped the load itself)", () => {
    expect(roundProblems(tallyRound(new Set(), received()))).toEqual([
      "nothing was captured: the load never reached the database",
    ]);
    expect(everyChangeReceived(captured, received(["w1", "e1"], ["w2", "e2"], ["w3", "e3"]))).toBe(
      true,
    );
  });
});
