import type { Clock } from "../ports/clock.ts";
import type { AbortCause } from "./classify.ts";

/** How an abortable task ended. */
export type Settled<T> =
  | { ok: true; value: T }
  | { ok: false; error: unknown; abortedBy: AbortCause | null };

/** setTimeout fires at once for delays above 2^31-1 ms on every runtime. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The aborts to run when a shutdown signal fires: one listener per shutdown signal for all the
 * tasks running under it, rather than one added and removed per task (measurable at tens of
 * thousands of attempts a second).
 */
const onShutdown = new WeakMap<AbortSignal, Set<() => void>>();

function whenShutdown(shutdown: AbortSignal, abort: () => void): () => void {
  let aborts = onShutdown.get(shutdown);
  if (!aborts) {
    const set = new Set<() => void>();
    aborts = set;
    onShutdown.set(shutdown, set);
    shutdown.addEventListener(
      "abort",
      () => {
        for (const run of [...set]) run();
      },
      { once: true },
    );
  }
  aborts.add(abort);
  return () => aborts.delete(abort);
}

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
  let rejectAborted: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  const stop = (cause: AbortCause, reason: unknown) => {
    if (abort.cause !== null) return;
    abort.cause = cause;
    controller.abort(reason);
    rejectAborted(controller.signal.reason);
  };
  const timer = clock.setTimeout(
    () =>
      stop(
        { by: "timeout", afterMs: timeoutMs },
        new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError"),
      ),
    timeoutMs,
  );
  const shutDown = () => stop({ by: "shutdown" }, shutdown?.reason);
  const forget = shutdown ? whenShutdown(shutdown, shutDown) : () => true;
  if (shutdown?.aborted) shutDown();
  try {
    // The constructor turns a synchronous throw from `task` into a rejection.
    const running = new Promise<T>((resolve) => resolve(task(controller.signal)));
    return { ok: true, value: await Promise.race([running, aborted]) };
  } catch (error) {
    return { ok: false, error, abortedBy: abort.cause };
  } finally {
    clock.clearTimeout(timer);
    forget();
  }
}
