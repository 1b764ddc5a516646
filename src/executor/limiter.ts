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

/** A semaphore whose slots are shared out among groups (tenants). */
export interface GroupSemaphore {
  /**
   * Resolves true once a slot is held for `group`, or false if `signal` aborts first. A null
   * group is never capped.
   */
  acquire(group: string | null, signal?: AbortSignal): Promise<boolean>;
  /** Gives back a slot held for `group`. */
  release(group: string | null): void;
  readonly active: number;
  readonly queued: number;
}

/**
 * `limit` slots, of which one group holds at most `perGroup` (a null group any number). Waiters
 * are served round robin across groups (first come, first served within one), skipping groups at
 * their cap: a group whose slots hang cannot hold them all, and the slots others release go to
 * the others in turn.
 */
export function createGroupSemaphore(limit: number, perGroup: number): GroupSemaphore {
  checkLimit("limit", limit);
  checkLimit("perGroup", perGroup);
  let active = 0;
  let queued = 0;
  const held = new Map<string, number>();
  // By group, in turn order: a group served moves to the back.
  const waiting = new Map<string | null, Set<() => void>>();
  const capped = (group: string | null) => group !== null && (held.get(group) ?? 0) >= perGroup;
  const take = (group: string | null) => {
    active++;
    if (group !== null) held.set(group, (held.get(group) ?? 0) + 1);
  };

  // Invariant after every change: no waiter could take a free slot (all free slots, if any,
  // belong to capped groups' waiters only).
  function dispatch(): void {
    while (active < limit) {
      let served = false;
      for (const [group, waiters] of waiting) {
        if (capped(group)) continue;
        const next = waiters.values().next().value as () => void;
        waiters.delete(next);
        queued--;
        waiting.delete(group);
        if (waiters.size > 0) waiting.set(group, waiters);
        take(group);
        next();
        served = true;
        break;
      }
      if (!served) return;
    }
  }

  return {
    acquire(group, signal) {
      if (signal?.aborted) return Promise.resolve(false);
      if (active < limit && !capped(group) && !waiting.has(group)) {
        take(group);
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => {
        let waiters = waiting.get(group);
        if (!waiters) {
          waiters = new Set();
          waiting.set(group, waiters);
        }
        const own = waiters;
        const onAbort = () => {
          if (!own.delete(grant)) return;
          queued--;
          if (own.size === 0 && waiting.get(group) === own) waiting.delete(group);
          resolve(false);
        };
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(true);
        };
        own.add(grant);
        queued++;
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    release(group) {
      if (active > 0) active--;
      if (group !== null) {
        const left = (held.get(group) ?? 1) - 1;
        if (left > 0) held.set(group, left);
        else held.delete(group);
      }
      dispatch();
    },
    get active() {
      return active;
    },
    get queued() {
      return queued;
    },
  };
}

/** Gives back the slots one `acquire` took; calling it again does nothing. */
export type Release = () => void;

/** A global limit, a limit per key (destination) and a share per group (tenant). */
export interface KeyedLimiter {
  /**
   * Resolves with a `Release` once both slots are held, or null if `signal` aborts first.
   * `group` (a tenant) holds at most its share of the global slots; null is not capped. A null
   * key takes no per-key slot (the global and group limits only).
   */
  acquire(key: string | null, signal?: AbortSignal, group?: string | null): Promise<Release | null>;
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
  /** Global slots one group may hold (default `limit`: no share). */
  perGroup?: number;
}

/**
 * A global limit plus a per-key limit. The per-key slot is taken first and the global one only
 * then, so work queued behind a slow key holds no global slot and cannot starve other keys.
 * Keys are counted per group: a group waiting for its share holds no other group's key slots.
 */
export function createKeyedLimiter(options: KeyedLimiterOptions): KeyedLimiter {
  checkLimit("perKey", options.perKey);
  const global = createGroupSemaphore(options.limit, options.perGroup ?? options.limit);
  const byKey = new Map<string, Semaphore>();
  let waiting = 0;

  // Keys are destinations, which are unbounded over time: keep only those in use.
  const dropIfIdle = (key: string, local: Semaphore) => {
    if (local.active === 0 && local.queued === 0 && byKey.get(key) === local) byKey.delete(key);
  };

  return {
    async acquire(destination, signal, group = null) {
      if (destination === null) {
        waiting++;
        try {
          if (!(await global.acquire(group, signal))) return null;
        } finally {
          waiting--;
        }
        let released = false;
        return () => {
          if (released) return;
          released = true;
          global.release(group);
        };
      }
      const key = group === null ? destination : `${group}\u0000${destination}`;
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
        if (!(await global.acquire(group, signal))) {
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
        global.release(group);
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
