/**
 * A stub `ObserverRuntime` for API tests: healthy by default, and counting what the API asks of
 * it (reloads, wakes) so tests can assert a route reached the runtime.
 */
import type { ObserverRuntime, RuntimeHealth } from "../../src/runtime/types.ts";

export interface StubRuntime extends ObserverRuntime {
  calls: { wake: number; reload: number };
  /** What `health()` reports as `running`. */
  running: boolean;
}

export function stubRuntime(): StubRuntime {
  const stub: StubRuntime = {
    calls: { wake: 0, reload: 0 },
    running: true,
    start: async () => {},
    stop: async () => {},
    health: async (): Promise<RuntimeHealth> => ({
      running: stub.running,
      observer_count: 0,
      last_checkpoint: null,
      events_processed: 0,
      errors: 0,
      lag: { pending_changes: 0, due_deliveries: 0, oldest_pending_ms: 0 },
    }),
    reload: async () => {
      stub.calls.reload += 1;
      return 0;
    },
    wake: () => {
      stub.calls.wake += 1;
    },
  };
  return stub;
}
