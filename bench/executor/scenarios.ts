import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
/** What the executor benchmark times: plain fetch as the baseline, then the executor's actions. */
import { defaultActionRegistry } from "../../src/actions/registry.ts";
import type { ActionEnvironment } from "../../src/actions/types.ts";
import type { ChangeEvent } from "../../src/events/types.ts";
import { createExecutor, type Delivery } from "../../src/executor/index.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { fail } from "../support/fail.ts";

export interface Scenario {
  name: string;
  /** Whether each run sends one request per delivery to the receiver. */
  sends: boolean;
  run(deliveries: number): Promise<void>;
}

interface ScenarioInputs {
  url: string;
  event: ChangeEvent;
  body: string;
  concurrency: number;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export function createExecutorScenarios(inputs: ScenarioInputs): Scenario[] {
  const { url, event, body, concurrency } = inputs;
  const environment: ActionEnvironment = {
    fetch: globalThis.fetch,
    env: {},
    policy: DEFAULT_ACTION_POLICY,
    clock: systemClock,
    logger: silentLogger,
    allowPrivateTargets: true,
  };
  const executor = createExecutor({
    registry: defaultActionRegistry,
    environment,
    concurrency,
    perDestination: concurrency,
  });
  const observer = { id: "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", name: "bench", tenant: null };
  const through = (name: string, action: Record<string, unknown>, sends = true): Scenario => ({
    name,
    sends,
    async run(count) {
      const deliveries: Delivery[] = Array.from({ length: count }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        event,
        observer,
        action,
        attempt: 1,
      }));
      let failed = 0;
      // Batches keep the number of pending promises like the runtime's claim batches.
      for (let start = 0; start < count; start += 1000) {
        const outcomes = await executor.executeAll(deliveries.slice(start, start + 1000));
        for (const outcome of outcomes) if (outcome.status !== "success") failed++;
      }
      if (failed > 0) fail(`${name}: ${failed} deliveries did not succeed`);
    },
  });

  return [
    {
      name: "fetch (baseline)",
      sends: true,
      run: (count) =>
        pool(count, concurrency, async () => {
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          });
          await response.arrayBuffer();
          if (response.status !== 204) fail(`baseline: HTTP ${response.status}`);
        }),
    },
    through("webhook, default body", { type: "webhook", url }),
    through("webhook, signed (Standard Webhooks)", {
      type: "webhook",
      url,
      signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }),
    through("webhook, body_template", {
      type: "webhook",
      url,
      body_template:
        '{"order": {{ after.id }}, "status": "{{ after.status }}", "tier": "{{ after.customer.tier }}"}',
    }),
    through(
      "log (no I/O)",
      { type: "log", message_template: "order {{ after.id }} is {{ after.status }}" },
      false,
    ),
  ];
}
