import * as v from "valibot";
import { expect } from "vitest";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import {
  type ActionDefinition,
  type ActionEnvironment,
  ActionFailure,
  type ActionResult,
  type ObserverRef,
} from "../../src/actions/types.ts";
import type { ChangeEvent } from "../../src/events/types.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { silentLogger } from "../../src/ports/logger.ts";

/** An environment for action tests: real fetch, loopback targets allowed, no env vars. */
export function testEnvironment(overrides: Partial<ActionEnvironment> = {}): ActionEnvironment {
  return {
    fetch: globalThis.fetch,
    env: {},
    policy: DEFAULT_ACTION_POLICY,
    clock: systemClock,
    logger: silentLogger,
    allowPrivateTargets: true,
    ...overrides,
  };
}

export const testObserver: ObserverRef = {
  id: "5f0c6a4e-2d7b-4c1e-9a51-0d2f7c3b9e11",
  name: "order-shipped",
};

/** `testObserver` as a delivery names it: a global observer (no tenant). */
export const testDeliveryObserver = { ...testObserver, tenant: null };

/** Validates `config` with the action's schema, then runs one attempt of it. */
export async function runAction<C>(
  definition: ActionDefinition<C>,
  config: unknown,
  event: ChangeEvent,
  options: {
    environment?: ActionEnvironment;
    deliveryId?: string;
    attempt?: number;
    maxAttempts?: number;
    signal?: AbortSignal;
    /** The observer's tenant (default null: a global observer). */
    tenant?: string | null;
  } = {},
): Promise<ActionResult> {
  return definition.run({
    config: v.parse(definition.schema, config),
    event,
    observer: testObserver,
    tenant: options.tenant ?? null,
    deliveryId: options.deliveryId ?? "0b9e4f3a-6c1d-4e2b-8f70-91a2b3c4d5e6",
    attempt: options.attempt ?? 1,
    maxAttempts: options.maxAttempts ?? 5,
    signal: options.signal ?? new AbortController().signal,
    environment: options.environment ?? testEnvironment(),
  });
}

/** The `ActionFailure` a promise rejects with (the test fails if it resolves or rejects otherwise). */
export async function actionFailure(promise: Promise<unknown>): Promise<ActionFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionFailure);
  return error as ActionFailure;
}
