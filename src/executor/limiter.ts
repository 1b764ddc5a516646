/** A counting semaphore whose waiters are served first come, first served. */
export interface Semaphore {
  /** Resolves true once a slot is held, or false if `signal` aborts first (then nothing is held). */
  acquire(signal?: AbortSignal): Promise<boolean>;
  /** Gives a held slot back (to the longest waiter, if any). */
  release(): void;
  readonly active: number;
  readonly queued: number;
}

function checkLimit(name: string, limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${limit}`);
  }
}

/** A FIFO semaphore with `limit` slots. */
export function createSemaphore(limit: number): Semaphore {
  checkLimit("limit", limit);
  let active = 0;
  // A Set keeps insertion order and lets an aborted waiter leave from the middle in O(1).
  const waiters = new Set<() => void>();
  return {
    acquire(signal) {
      if (signal?.aborted) return Promise.resolve(false);
      if (active < limit && waiters.size === 0) {
        active++;
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => {
        const onAbort = () => {
          waiters.delete(grant);
          resolve(false);
        };
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(true);
        };
        waiters.add(grant);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    release() {
      const next = waiters.values().next();
      if (next.done) {
        if (active > 0) active--;
        return;
      }
      // The slot passes straight to the next waiter, so `active` does not change.
      waiters.delete(next.value);
      next.value();
    },
    get active() {
      return active;
    },
    get queued() {
      return waiters.size;
    },
  };
}

/** Gives back the slots one `acquire` took; calling it again does nothing. */
export type Release = () => void;

/** A global limit plus a limit per key (destination). */
export interface KeyedLimiter {
  /** Resolves with a `Release` once both slots are held, or null if `signal` aborts first. */
  acquire(key: string, signal?: AbortSignal): Promise<Release | null>;
  /** Slots held (at most the global limit). */
  readonly active: number;
  /** Acquisitions still waiting for a slot. */
  readonly queued: number;
  /** Keys with a slot held or awaited (idle keys are dropped). */
  readonly keys: number;
}

/** Options for `createKeyedLimiter`. */
export interface KeyedLimiterOptions {
  limit: number;
  perKey: number;
}

/**
 * A global limit plus a per-key limit. The per-key slot is taken first and the global one only
 * then, so work queued behind a slow key holds no global slot and cannot starve other keys.
 */
export function createKeyedLimiter(options: KeyedLimiterOptions): KeyedLimiter {
  checkLimit("perKey", options.perKey);
  const global = createSemaphore(options.limit);
  const byKey = new Map<string, Semaphore>();
  let waiting = 0;

  // Keys are destinations, which are unbounded over time: keep only those in use.
  const dropIfIdle = (key: string, local: Semaphore) => {
    if (local.active === 0 && local.queued === 0 && byKey.get(key) === local) byKey.delete(key);
  };

  return {
    async acquire(key, signal) {
      let local = byKey.get(key);
      if (!local) {
        local = createSemaphore(options.perKey);
        byKey.set(key, local);
      }
      waiting++;
      try {
        if (!(await local.acquire(signal))) {
          dropIfIdle(key, local);
          return null;
        }
        if (!(await global.acquire(signal))) {
          local.release();
          dropIfIdle(key, local);
          return null;
        }
      } finally {
        waiting--;
      }
      const held = local;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        global.release();
        held.release();
        dropIfIdle(key, held);
      };
    },
    get active() {
      return global.active;
    },
    get queued() {
      return waiting;
    },
    get keys() {
      return byKey.size;
    },
  };
}
