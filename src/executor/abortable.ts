import type { Clock } from "../ports/clock.ts";
import type { AbortCause } from "./classify.ts";

/** How an abortable task ended. */
export type Settled<T> =
  | { ok: true; value: T }
  | { ok: false; error: unknown; abortedBy: AbortCause | null };

/** setTimeout fires at once for delays above 2^31-1 ms on every runtime. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Runs `task` with a signal aborted after `timeoutMs` on `clock`, or when `shutdown` aborts.
 * Settles at the abort even if the task ignores its signal, so a hung action cannot hold its slot
 * forever, and says which of the two aborted it. Never rejects.
 */
export async function runAbortable<T>(
  task: (signal: AbortSignal) => Promise<T>,
  options: { clock: Clock; timeoutMs: number; shutdown?: AbortSignal | undefined },
): Promise<Settled<T>> {
  const { clock, shutdown } = options;
  const timeoutMs = Math.min(options.timeoutMs, MAX_TIMER_MS);
  const controller = new AbortController();
  const abort: { cause: AbortCause | null } = { cause: null };
  const timer = clock.setTimeout(() => {
    abort.cause ??= { by: "timeout", afterMs: timeoutMs };
    controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  // A listener removed in `finally` (rather than AbortSignal.any) leaves nothing behind on the
  // long-lived shutdown signal, and records which of the two fired.
  const onShutdown = () => {
    abort.cause ??= { by: "shutdown" };
    controller.abort(shutdown?.reason);
  };
  shutdown?.addEventListener("abort", onShutdown, { once: true });
  if (shutdown?.aborted) onShutdown();
  const aborted = new Promise<never>((_, reject) => {
    const { signal } = controller;
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  try {
    // The constructor turns a synchronous throw from `task` into a rejection.
    const running = new Promise<T>((resolve) => resolve(task(controller.signal)));
    return { ok: true, value: await Promise.race([running, aborted]) };
  } catch (error) {
    return { ok: false, error, abortedBy: abort.cause };
  } finally {
    clock.clearTimeout(timer);
    shutdown?.removeEventListener("abort", onShutdown);
  }
}
