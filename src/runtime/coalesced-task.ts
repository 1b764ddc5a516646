/** A task that runs one at a time: a request while it runs makes it run once more afterwards. */
export interface CoalescedTask {
  /** Runs the task now, or once more after the current run; resolves when that run is over. */
  run(): Promise<void>;
  /** The current run, if any (to await it on shutdown). */
  readonly running: Promise<void> | null;
}

/** Wraps `fn` (whose failures go to `onError`) so that concurrent wake-ups collapse into reruns. */
export function createCoalescedTask(
  fn: () => Promise<void>,
  onError: (error: unknown) => void,
): CoalescedTask {
  let running: Promise<void> | null = null;
  let again = false;
  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        await fn();
      } catch (error: unknown) {
        onError(error);
      }
    } while (again);
    running = null;
  }
  return {
    run() {
      if (running) {
        again = true;
        return running;
      }
      running = loop();
      return running;
    },
    get running() {
      return running;
    },
  };
}
