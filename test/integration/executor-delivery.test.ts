// A delivery's whole life through the executor and the real webhook action, over real HTTP: the
// retry schedule the executor returns (here a test loop stands in for the store that will keep
// retries in PostgreSQL), the dead letter at the end, and one hanging host beside a healthy one.
import type { ServerResponse } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { defaultActionRegistry } from "../../src/actions/registry.ts";
import { createExecutor, type Delivery, type ExecutionOutcome } from "../../src/executor/index.ts";
import { testDeliveryObserver, testEnvironment } from "../support/actions.ts";
import { fakeClock } from "../support/clock.ts";
import { update } from "../support/events.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

function setup(
  options: { perDestination?: number; concurrency?: number; adaptive?: boolean } = {},
) {
  const clock = fakeClock();
  const executor = createExecutor({
    registry: defaultActionRegistry,
    environment: testEnvironment({ clock }),
    random: () => 0.5,
    ...options,
  });
  return { clock, executor };
}

function delivery(url: string, retry_config: Record<string, unknown>, id = "d-1"): Delivery {
  return {
    id,
    event: update({ id: 42, status: "shipped" }, { id: 42, status: "paid" }),
    observer: { ...testDeliveryObserver, retry_config, timeout_ms: 5_000 },
    action: { type: "webhook", url, signing_secret: SECRET },
    attempt: 1,
  };
}

/** Runs attempts as the store will: each at the time the previous outcome asked for. */
async function untilFinal(
  executor: ReturnType<typeof createExecutor>,
  clock: ReturnType<typeof fakeClock>,
  first: Delivery,
): Promise<ExecutionOutcome[]> {
  const outcomes: ExecutionOutcome[] = [];
  let next: Delivery | null = first;
  while (next) {
    const outcome = await executor.execute(next);
    outcomes.push(outcome);
    if (outcome.disposition !== "retry") break;
    expect(outcome.nextAttemptAt).toBeGreaterThanOrEqual(clock.now());
    clock.set(outcome.nextAttemptAt ?? 0);
    next = { ...next, attempt: outcome.nextAttempt ?? next.attempt + 1 };
  }
  return outcomes;
}

describe("a webhook delivery through the executor", () => {
  it("retries on the returned schedule, honouring Retry-After, then delivers under one webhook-id", async () => {
    const hook = await receiver();
    let calls = 0;
    hook.reply(() => {
      calls++;
      if (calls === 1) return { status: 503, headers: { "retry-after": "20" } };
      if (calls === 2) return { status: 500, body: "database is down" };
      return { status: 204 };
    });
    const { clock, executor } = setup();
    const start = clock.now();
    const outcomes = await untilFinal(
      executor,
      clock,
      delivery(`${hook.url}/orders`, {
        max_attempts: 5,
        backoff_strategy: "exponential",
        initial_delay_ms: 1_000,
        max_delay_ms: 60_000,
      }),
    );

    expect(outcomes.map((o) => [o.status, o.disposition, o.httpStatus])).toEqual([
      ["failed", "retry", 503],
      ["failed", "retry", 500],
      ["success", "done", 204],
    ]);
    // Retry-After (20 s) outweighs the first backoff (at most 1 s); the second is full jitter of 2 s.
    expect((outcomes[0]?.nextAttemptAt ?? 0) - start).toBe(20_000);
    expect((outcomes[1]?.nextAttemptAt ?? 0) - (outcomes[1]?.startedAt ?? 0)).toBe(1_000);
    expect(outcomes[1]?.responseExcerpt).toBe("database is down");

    const webhook = new Webhook(SECRET);
    const requests = hook.requests;
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set(["d-1"]));
    expect(requests.map((r) => JSON.parse(r.text).attempt)).toEqual([1, 2, 3]);
    const stamps = requests.map((r) => Number(r.headers["webhook-timestamp"]));
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(stamps[2]).toBe(Math.floor(clock.now() / 1000));
    for (const request of requests) {
      // Verification checks the timestamp against real time: check the signature at its own time.
      const headers = { ...request.headers } as Record<string, string>;
      const sentAt = new Date(Number(headers["webhook-timestamp"]) * 1000);
      expect(webhookAt(webhook, sentAt, request.text, headers)).toMatchObject({ id: "d-1" });
    }
  });

  it("dead-letters after max_attempts, keeping the last status and response", async () => {
    const hook = await receiver();
    hook.reply(() => ({ status: 502, body: "bad gateway" }));
    const { clock, executor } = setup();
    const outcomes = await untilFinal(
      executor,
      clock,
      delivery(`${hook.url}/x`, {
        max_attempts: 3,
        backoff_strategy: "fixed",
        initial_delay_ms: 250,
      }),
    );
    expect(outcomes.map((o) => [o.attempt, o.disposition])).toEqual([
      [1, "retry"],
      [2, "retry"],
      [3, "dead_letter"],
    ]);
    expect(outcomes[2]).toMatchObject({
      status: "failed",
      maxAttempts: 3,
      httpStatus: 502,
      errorCode: "HTTP_STATUS",
      responseExcerpt: "bad gateway",
      nextAttemptAt: null,
    });
    expect(hook.requests).toHaveLength(3);
  });

  it("gives up at once on a 4xx and when the receiver aborts the message", async () => {
    const hook = await receiver();
    hook.reply((request) =>
      request.path === "/gone"
        ? { status: 410 }
        : { status: 500, headers: { "webhook-delivery": "abort-message" } },
    );
    const { clock, executor } = setup();
    const [gone] = await untilFinal(executor, clock, delivery(`${hook.url}/gone`, {}));
    const [aborted] = await untilFinal(executor, clock, delivery(`${hook.url}/abort`, {}));
    expect(gone).toMatchObject({ disposition: "dead_letter", attempt: 1, httpStatus: 410 });
    expect(aborted).toMatchObject({
      disposition: "dead_letter",
      attempt: 1,
      errorCode: "RECEIVER_ABORTED",
    });
  });

  it("lets a healthy host deliver while another hangs, then times the hanging ones out", async () => {
    const slow = await receiver();
    const held: ServerResponse[] = [];
    slow.reply((_request, res) => {
      held.push(res);
      return new Promise(() => {}); // never answered
    });
    const fast = await receiver();
    // A fixed limit of 2 (adaptive, each timeout would also lower the hanging host's limit).
    const { clock, executor } = setup({ perDestination: 2, concurrency: 4, adaptive: false });

    const hanging = Array.from({ length: 6 }, (_, i) =>
      executor.execute(delivery(`${slow.url}/slow`, {}, `slow-${i}`)),
    );
    const healthy = await executor.executeAll(
      Array.from({ length: 5 }, (_, i) => delivery(`${fast.url}/fast`, {}, `fast-${i}`)),
    );
    expect(healthy.map((o) => o.status)).toEqual(Array(5).fill("success"));
    expect(fast.requests).toHaveLength(5);
    // Only two requests at a time reach the hanging host; the rest wait without a global slot.
    expect(slow.requests).toHaveLength(2);
    expect(executor.active).toBe(2);
    expect(executor.queued).toBe(4);

    // Each timeout frees a slot for the next waiting delivery, which then hangs in its turn.
    for (let round = 0; round < 3; round++) {
      clock.advance(5_000);
      await slow.waitFor(Math.min(6, 2 * (round + 2)));
    }
    const timedOut = await Promise.all(hanging);
    expect(timedOut.map((o) => [o.status, o.disposition, o.errorCode])).toEqual(
      Array(6).fill(["timeout", "retry", "TIMEOUT"]),
    );
    expect(executor.active).toBe(0);
    for (const res of held) res.destroy();
  });
});

/** Verifies a Standard Webhooks signature as of `at` (the library checks a 5-minute tolerance). */
function webhookAt(webhook: Webhook, at: Date, body: string, headers: Record<string, string>) {
  const realNow = Date.now;
  Date.now = () => at.getTime();
  try {
    return webhook.verify(body, headers);
  } finally {
    Date.now = realNow;
  }
}
