import { type Clock, systemClock } from "../ports/clock.ts";

/** How repeated authentication failures from one client are slowed. */
export interface AuthThrottleOptions {
  /** Failures a client may make before it is made to wait (default 10). */
  freeFailures?: number;
  /** A client's failures are forgotten after this long without one (default 60 000 ms). */
  windowMs?: number;
  /** The first wait; each further failure doubles it (default 1 000 ms). */
  firstLockMs?: number;
  /** The longest wait (default 15 minutes). */
  maxLockMs?: number;
  /** Clients remembered at once; the least recently failing are forgotten first (default 10 000). */
  maxClients?: number;
  clock?: Clock;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockMs: number;
  lockedUntil: number;
}

/**
 * Counts failed authentications per client. Past `freeFailures`, the client must wait before its
 * next token is even checked, and each failure after a wait doubles the next one. Failures are
 * forgotten only after `windowMs` without one: a success does not reset them, or anyone holding
 * one valid key could interleave it with guesses at the admin token. Memory is bounded by
 * `maxClients`.
 */
export class AuthThrottle {
  readonly #entries = new Map<string, Entry>();
  readonly #free: number;
  readonly #windowMs: number;
  readonly #firstLockMs: number;
  readonly #maxLockMs: number;
  readonly #maxClients: number;
  readonly #clock: Clock;

  constructor(options: AuthThrottleOptions = {}) {
    this.#free = options.freeFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#firstLockMs = options.firstLockMs ?? 1_000;
    this.#maxLockMs = options.maxLockMs ?? 15 * 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** How long `client` must wait before its token is checked (0: not at all). */
  waitMs(client: string): number {
    const entry = this.#entries.get(client);
    return entry ? Math.max(0, entry.lockedUntil - this.#clock.now()) : 0;
  }

  /** Records a failed authentication. */
  failure(client: string): void {
    const now = this.#clock.now();
    let entry = this.#entries.get(client);
    if (!entry || now - entry.lastFailureAt > this.#windowMs + entry.lockMs) {
      entry = { failures: 0, lastFailureAt: now, lockMs: 0, lockedUntil: 0 };
    }
    entry.failures += 1;
    entry.lastFailureAt = now;
    if (entry.failures > this.#free) {
      entry.lockMs =
        entry.lockMs === 0 ? this.#firstLockMs : Math.min(entry.lockMs * 2, this.#maxLockMs);
      entry.lockedUntil = now + entry.lockMs;
    }
    // Re-inserted so that the map's order is least recently failing first.
    this.#entries.delete(client);
    this.#entries.set(client, entry);
    if (this.#entries.size > this.#maxClients) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}
