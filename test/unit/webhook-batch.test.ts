/**
 * Webhook batches below the runtime (docs/delivery.md, "Batches"): the batcher's grouping (size,
 * wait on the injected clock, stop, change order, one group per observer action), the batch id,
 * the executor's one attempt per batch with per-member outcomes, and the webhook's batch body,
 * signed and verified with the Standard Webhooks library.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { batchIdOf, batchSettingsOf } from "../../src/actions/batch.ts";
import { defaultActionRegistry } from "../../src/actions/registry.ts";
import { createExecutor, type Delivery } from "../../src/executor/index.ts";
import { metrics } from "../../src/metrics/observers.ts";
import { type BatchMember, createBatcher } from "../../src/runtime/batcher.ts";
import type { ClaimedDelivery } from "../../src/store/claims.ts";
import { testDeliveryObserver, testEnvironment } from "../support/actions.ts";
import { fakeClock } from "../support/clock.ts";
import { insert } from "../support/events.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";
import { useReceiver } from "../support/receiver.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const receiver = useReceiver(() => ({ status: 204 }));

/** A claim of change (txid, pk) for observer action `key`. */
function member(id: string, txid: string, pk: string, key = "1"): BatchMember {
  const claim = {
    pk: id,
    id,
    fk_observer: key,
    observer_version: "v1",
    action_index: 0,
    change: { transaction_id: txid, pk_entity_change_log: pk },
  } as unknown as ClaimedDelivery;
  return { claim, delivery: { id } as Delivery, actionType: "webhook" };
}

function recordingBatcher() {
  const clock = fakeClock();
  const sent: string[][] = [];
  const executor = {
    async executeBatch(deliveries: readonly Delivery[]) {
      sent.push(deliveries.map((d) => d.id));
      return { id: "b", outcomes: [] };
    },
  };
  const batcher = createBatcher({ clock, executor, done: () => {} });
  return { clock, sent, batcher };
}

describe("the batcher", () => {
  it("sends a group when it is full, in change order whatever the claim order", () => {
    const { sent, batcher } = recordingBatcher();
    const settings = { maxSize: 3, maxWaitMs: 1_000 };
    // Transaction 9 committed before 10; within one transaction, by change-log key.
    batcher.add(member("c", "10", "5"), settings);
    batcher.add(member("a", "9", "7"), settings);
    expect(sent).toEqual([]);
    batcher.add(member("b", "9", "8"), settings);
    expect(sent).toEqual([["a", "b", "c"]]);
    expect(batcher.waiting).toBe(0);
  });

  it("sends a partial group once its oldest member has waited max_wait_ms", () => {
    const { clock, sent, batcher } = recordingBatcher();
    const settings = { maxSize: 10, maxWaitMs: 500 };
    batcher.add(member("a", "1", "1"), settings);
    clock.advance(300);
    batcher.add(member("b", "1", "2"), settings);
    clock.advance(199);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([["a", "b"]]);
    // The next member starts a new group with its own wait.
    batcher.add(member("c", "2", "1"), settings);
    clock.advance(499);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent).toEqual([["a", "b"], ["c"]]);
  });

  it("keeps one group per observer action, and sends them all at once when flushed", () => {
    const { clock, sent, batcher } = recordingBatcher();
    const settings = { maxSize: 10, maxWaitMs: 5_000 };
    batcher.add(member("a", "1", "1", "1"), settings);
    batcher.add(member("b", "1", "2", "2"), settings);
    batcher.add(member("c", "1", "3", "1"), settings);
    expect(batcher.waiting).toBe(3);
    batcher.flushAll();
    expect(sent).toEqual([["a", "c"], ["b"]]);
    expect(clock.pending).toBe(0);
  });
});

describe("batch settings and ids", () => {
  it("reads settings from a stored config, clamping what the API would refuse", () => {
    expect(batchSettingsOf({ type: "webhook", url: "x" })).toBeNull();
    expect(batchSettingsOf({ type: "webhook", batch: { max_size: 5 } })).toEqual({
      maxSize: 5,
      maxWaitMs: 1_000,
    });
    expect(batchSettingsOf({ batch: { max_size: 5000, max_wait_ms: 1e9 } })).toEqual({
      maxSize: 1000,
      maxWaitMs: 10_000,
    });
  });

  it("derives the same id from the same members in any order, another from other members", async () => {
    const one = await batchIdOf(["d-1", "d-2", "d-3"]);
    expect(one).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await batchIdOf(["d-3", "d-1", "d-2"])).toBe(one);
    expect(await batchIdOf(["d-1", "d-2"])).not.toBe(one);
  });
});

function batchDelivery(id: string, attempt: number, batch: Record<string, unknown>): Delivery {
  return {
    id,
    event: insert({ id, status: "new" }),
    observer: {
      ...testDeliveryObserver,
      timeout_ms: 5_000,
      retry_config: { max_attempts: 3, backoff_strategy: "fixed", initial_delay_ms: 1_000 },
    },
    action: { type: "webhook", url: `${receiver.url}/batch`, signing_secret: SECRET, batch },
    attempt,
  };
}

function verify(request: { text: string; headers: Record<string, unknown> }) {
  return new Webhook(SECRET).verify(request.text, {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": String(request.headers["webhook-signature"]),
  }) as { id: string; events: { id: string; attempt: number }[] };
}

describe("a batch through the executor", () => {
  const executor = createExecutor({
    registry: defaultActionRegistry,
    environment: testEnvironment(),
    random: () => 0.5,
  });

  const read = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(parseExposition(metrics.render()), name, labels) ?? 0;

  it("sends one signed request whose outcome is each member's, with its own attempt", async () => {
    const sent = { action_type: "webhook", status: "success" };
    const batchesBefore = read("fraiseql_observer_batches_sent_total", sent);
    const sizesBefore = read("fraiseql_observer_batch_size_sum", { action_type: "webhook" });
    const attemptsBefore = read("fraiseql_observer_action_attempts_total", sent);
    const batch = { max_size: 10 };
    const action = batchDelivery("d-1", 1, batch).action;
    const members = [batchDelivery("d-1", 1, batch), batchDelivery("d-2", 2, batch)].map((d) => ({
      ...d,
      action,
    }));
    const { id, outcomes } = await executor.executeBatch(members);
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    const body = verify(request as never);
    expect(body.id).toBe(id);
    expect(request?.headers["webhook-id"]).toBe(await batchIdOf(["d-1", "d-2"]));
    expect(body.events.map((e) => [e.id, e.attempt])).toEqual([
      ["d-1", 1],
      ["d-2", 2],
    ]);
    expect(outcomes.map((o) => [o.deliveryId, o.attempt, o.status, o.disposition])).toEqual([
      ["d-1", 1, "success", "done"],
      ["d-2", 2, "success", "done"],
    ]);
    // One batch of two; each member's attempt counted as an attempt.
    expect(read("fraiseql_observer_batches_sent_total", sent) - batchesBefore).toBe(1);
    expect(read("fraiseql_observer_batch_size_sum", { action_type: "webhook" }) - sizesBefore).toBe(
      2,
    );
    expect(read("fraiseql_observer_action_attempts_total", sent) - attemptsBefore).toBe(2);
  });

  it("fails every member together; each retries at its own attempt or is dead-lettered", async () => {
    receiver.reply(() => ({ status: 503 }));
    const batch = { max_size: 10 };
    const action = batchDelivery("d-1", 1, batch).action;
    const members = [batchDelivery("d-1", 1, batch), batchDelivery("d-2", 3, batch)].map((d) => ({
      ...d,
      action,
    }));
    const { outcomes } = await executor.executeBatch(members);
    expect(outcomes.map((o) => [o.attempt, o.disposition, o.nextAttempt, o.httpStatus])).toEqual([
      [1, "retry", 2, 503],
      [3, "dead_letter", null, 503],
    ]);
  });

  it("sends a batch of one when a batched webhook runs alone (a test send)", async () => {
    const outcome = await executor.execute(batchDelivery("d-9", 1, { max_size: 5 }));
    expect(outcome.status).toBe("success");
    const body = verify(receiver.requests[0] as never);
    expect(body.id).toBe(await batchIdOf(["d-9"]));
    expect(body.events.map((e) => e.id)).toEqual(["d-9"]);
  });
});
