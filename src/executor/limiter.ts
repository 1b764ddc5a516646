import { type AdaptiveLimit, createAdaptiveLimit } from "./adaptive-limit.ts";

/** A counting semaphore whose waiters are served first come, first served. */
export interface Semaphore {
  /** Resolves true once a slot is held, or false if `signal` aborts first (then nothing is held). */
  acquire(signal?: AbortSignal): Promise<boolean>;
  /** Gives a held slot back (to the longest waiter, if any, unless over a lowered limit). */
  release(): void;
  /** Changes the limit: a higher one grants waiters now; a lower one takes effect as slots free. */
  resize(limit: number): void;
  readonly active: number;
  readonly queued: number;
}

function checkLimit(name: string, limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${limit}`);
  }
}

/** A FIFO semaphore with `limit` slots (resizable). */
export function createSemaphore(initialLimit: number): Semaphore {
  checkLimit("limit", initialLimit);
  let limit = initialLimit;
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
      if (next.done || active > limit) {
        if (active > 0) active--;
        return;
      }
      // The slot passes straight to the next waiter, so `active` does not change.
      waiters.delete(next.value);
      next.value();
    },
    resize(next) {
      checkLimit("limit", next);
      limit = next;
      while (active < limit) {
        const waiter = waiters.values().next();
        if (waiter.done) return;
        waiters.delete(waiter.value);
        active++;
        waiter.value();
      }
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

/** How an attempt's destination answered, for its adaptive limit (`createKeyedLimiter`). */
export type AttemptSignal = "answered" | "overloaded";

/**
 * Gives back the slots one `acquire` took; calling it again does nothing. With a signal, the
 * attempt's round trip (acquire to release) teaches the destination's adaptive limit; without
 * one (the attempt was cancelled, or never reached the destination), nothing is learned.
 */
export type Release = (signal?: AttemptSignal) => void;

/** A global limit, a limit per key (destination) and a share per group (tenant). */
export interface KeyedLimiter {
  /**
   * Resolves with a `Release` once both slots are held, or null if `signal` aborts first.
   * `group` (a tenant) holds at most its share of the global slots; null is not capped. A null
   * key takes no per-key slot (the global and group limits only).
   */
  acquire(key: string | null, signal?: AbortSignal, group?: string | null): Promise<Release | null>;
  /**
   * The per-key limit of `key` for `group` now (the cap when not adaptive, or for a key never
   * seen). Adaptive limits are learnt per group and key.
   */
  limitOf(key: string, group?: string | null): number;
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
  /** Slots per key: the cap of an adaptive limit, or the fixed limit. */
  perKey: number;
  /** Global slots one group may hold (default `limit`: no share). */
  perGroup?: number;
  /**
   * Learn each key's limit from its round trips (src/executor/adaptive-limit.ts), between 1 and
   * `perKey`; false: `perKey` is a fixed limit. Default false here (the executor turns it on).
   */
  adaptive?: boolean;
  /** Where an adaptive key starts (default min(16, perKey)). */
  initialPerKey?: number;
  /** Milliseconds for round trips (default `performance.now`). */
  now?: () => number;
  /** Told when a key's limit changes, and with null when its state is forgotten. */
  onLimit?: (key: string, limit: number | null) => void;
}

/** Keys whose learnt limits are kept while idle, at most (the least recently used go first). */
const MAX_REMEMBERED_KEYS = 10_000;

/** A key's adaptive limit, its in-flight count, and the semaphores (one per group) sized by it. */
interface KeyState {
  limit: AdaptiveLimit | null;
  /** The most its group could ever run at once against it (the fixed limit when not adaptive). */
  cap: number;
  inflight: number;
  semaphores: Set<Semaphore>;
}

/**
 * A global limit plus a per-key limit. The per-key slot is taken first and the global one only
 * then, so work queued behind a slow key holds no global slot and cannot starve other keys.
 * Keys are counted per group: a group waiting for its share holds no other group's key slots.
 * An adaptive key's limit is learnt per group and key, from that group's attempts only.
 */
export function createKeyedLimiter(options: KeyedLimiterOptions): KeyedLimiter {
  checkLimit("perKey", options.perKey);
  const perGroup = options.perGroup ?? options.limit;
  const global = createGroupSemaphore(options.limit, perGroup);
  /**
   * What a key can ever run at once: its group's global slots (`limit`, a tenant's share) bound it.
   * A key's limit is reported (and its semaphore sized) no higher, so the gauge never claims
   * attempts that cannot run. The adaptive limit itself still learns up to `perKey`, as it did
   * when bench/README.md's delivery figures were taken: learnt above the slots, it stops learning
   * from round trips (in flight stays under half of it), which include this process's own
   * queueing under load, and lets the global slots be the bound while the destination answers
   * well; overload signals still bring it down.
   */
  const capOf = (group: string | null) =>
    Math.min(options.perKey, options.limit, group === null ? options.limit : perGroup);
  const byKey = new Map<string, Semaphore>();
  const states = new Map<string, KeyState>();
  const now = options.now ?? (() => performance.now());
  const adaptive = options.adaptive === true;
  let waiting = 0;

  /** The key's state, most recently used last; the oldest idle ones beyond the bound go. */
  function stateOf(key: string, group: string | null): KeyState {
    let state = states.get(key);
    if (state) {
      states.delete(key);
      states.set(key, state);
      return state;
    }
    const cap = capOf(group);
    state = {
      cap,
      limit: adaptive
        ? createAdaptiveLimit({
            max: options.perKey,
            ...(options.initialPerKey === undefined ? {} : { initial: options.initialPerKey }),
          })
        : null,
      inflight: 0,
      semaphores: new Set(),
    };
    states.set(key, state);
    // A fixed limit is reported too: the gauge shows what holds a destination back either way.
    options.onLimit?.(keyOf(key), limitOfState(state));
    if (states.size > MAX_REMEMBERED_KEYS) {
      for (const [old, kept] of states) {
        if (states.size <= MAX_REMEMBERED_KEYS) break;
        if (kept.inflight > 0 || kept.semaphores.size > 0) continue;
        states.delete(old);
        options.onLimit?.(keyOf(old), null);
      }
    }
    return state;
  }

  const limitOfState = (state: KeyState) => Math.min(state.limit?.limit ?? state.cap, state.cap);
  /** The key of a group's slot key (`group NUL key`). */
  const keyOf = (slotKey: string) => slotKey.slice(slotKey.indexOf("\u0000") + 1);

  // Keys are destinations, which are unbounded over time: keep only those in use.
  const dropIfIdle = (slotKey: string, local: Semaphore, state: KeyState) => {
    if (local.active === 0 && local.queued === 0 && byKey.get(slotKey) === local) {
      byKey.delete(slotKey);
      state.semaphores.delete(local);
    }
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
      // Learnt per tenant too: one tenant's failing requests to a shared host (its own bad path
      // answering 5xx) must not lower the other tenants' limit there.
      const slotKey = group === null ? destination : `${group}\u0000${destination}`;
      const state = stateOf(slotKey, group);
      let local = byKey.get(slotKey);
      if (!local) {
        local = createSemaphore(limitOfState(state));
        byKey.set(slotKey, local);
        state.semaphores.add(local);
      }
      waiting++;
      try {
        if (!(await local.acquire(signal))) {
          dropIfIdle(slotKey, local, state);
          return null;
        }
        if (!(await global.acquire(group, signal))) {
          local.release();
          dropIfIdle(slotKey, local, state);
          return null;
        }
      } finally {
        waiting--;
      }
      const held = local;
      const inflight = ++state.inflight;
      const startedAt = now();
      let released = false;
      return (answer) => {
        if (released) return;
        released = true;
        state.inflight--;
        const limit = state.limit;
        if (limit && answer !== undefined) {
          const before = limitOfState(state);
          limit.sample({
            rttMs: now() - startedAt,
            inflight,
            overloaded: answer === "overloaded",
            at: now(),
          });
          const after = limitOfState(state);
          if (after !== before) {
            for (const semaphore of state.semaphores) semaphore.resize(after);
            options.onLimit?.(destination, after);
          }
        }
        global.release(group);
        held.release();
        dropIfIdle(slotKey, held, state);
      };
    },
    limitOf(key, group = null) {
      const state = states.get(group === null ? key : `${group}\u0000${key}`);
      return state ? limitOfState(state) : capOf(group);
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
