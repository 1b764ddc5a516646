// The executor's adaptive limit per destination (docs/delivery.md#adaptive-concurrency) against a
// real HTTP receiver in this process whose answers the test controls: with plenty of deliveries
// waiting, the requests in flight at a healthy receiver rise past the starting limit; when the
// receiver starts answering 503 they fall to one at a time; the limit is on the metrics.
import { afterEach, describe, expect, it } from "vitest";
import { defaultActionRegistry } from "../../src/actions/registry.ts";
import { createExecutor, type Delivery } from "../../src/executor/index.ts";
import { metrics } from "../../src/metrics/observers.ts";
import { testDeliveryObserver, testEnvironment } from "../support/actions.ts";
import { update } from "../support/events.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";

let receiver: Receiver | null = null;
afterEach(async () => {
  await receiver?.close();
  receiver = null;
});

function delivery(url: string, id: string): Delivery {
  return {
    id,
    event: update({ id: 42, status: "shipped" }, { id: 42, status: "paid" }),
    observer: { ...testDeliveryObserver, retry_config: { max_attempts: 1 }, timeout_ms: 10_000 },
    action: { type: "webhook", url },
    attempt: 1,
  };
}

describe("adaptive concurrency per destination, over real HTTP", () => {
  it("puts more in flight at a healthy receiver, and fewer once it answers 503", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let status = 204;
    receiver = await startReceiver(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // Answers after 50 ms whatever the load: more in flight is more throughput. (Long beside
      // the HTTP work this process does at both ends, so the round trip is mostly the receiver's.)
      await new Promise((resolve) => setTimeout(resolve, 50));
      inFlight--;
      return { status };
    });
    const executor = createExecutor({
      registry: defaultActionRegistry,
      environment: testEnvironment(),
      concurrency: 512,
      perTenant: 512,
      perDestination: 64,
    });
    const url = `${receiver.url}/hook`;
    const batch = (n: number, tag: string) =>
      executor.executeAll(Array.from({ length: n }, (_, i) => delivery(url, `${tag}-${i}`)));

    const healthy = await batch(1_500, "healthy");
    expect(healthy.every((o) => o.status === "success")).toBe(true);
    // It started at 16 requests at a time, and never goes past the cap.
    expect(maxInFlight).toBeGreaterThan(32);
    expect(maxInFlight).toBeLessThanOrEqual(64);
    const gauge = () =>
      metrics
        .families()
        .find((f) => f.name === "fraiseql_observer_destination_concurrency_limit")
        ?.samples.find((s) => s.labels.destination === `webhook:${receiver?.url}`)?.value;
    expect(gauge()).toBeGreaterThan(32);

    status = 503;
    await batch(100, "overloaded");
    maxInFlight = inFlight;
    const after = await batch(20, "after");
    expect(after.every((o) => o.httpStatus === 503)).toBe(true);
    // Overloaded: one request at a time.
    expect(maxInFlight).toBe(1);
    expect(gauge()).toBe(1);
  });
});
