import { ConfigError } from "../errors.ts";

/** A place in one of the two streams: the writing transaction and the row's key (both decimal text). */
export interface StreamPosition {
  transactionId: string;
  id: string;
}

/**
 * Where a subscriber is: the last change and the last execution it was sent. Both streams are read
 * in (transaction, key) order below the oldest running transaction, so nothing can appear behind
 * a position once it has been passed.
 */
export interface LiveCursor {
  changes: StreamPosition;
  executions: StreamPosition;
}

export const START: StreamPosition = Object.freeze({ transactionId: "0", id: "0" });

const VERSION = "1";
const DECIMAL = /^\d{1,20}$/;
/** Transaction ids are `xid8` (unsigned 64-bit), keys `bigint` (signed 64-bit). */
const MAX_XID8 = 18_446_744_073_709_551_615n;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** The cursor as clients see it: opaque text, `1.<tx>.<id>.<tx>.<id>`. */
export function encodeCursor(cursor: LiveCursor): string {
  const { changes: c, executions: x } = cursor;
  return [VERSION, c.transactionId, c.id, x.transactionId, x.id].join(".");
}

/** A cursor a client sent back; `ConfigError` on `since` when it is not one. */
export function decodeCursor(text: string): LiveCursor {
  const parts = text.split(".");
  const [version, ...numbers] = parts;
  const inRange = (n: string, i: number) =>
    DECIMAL.test(n) && BigInt(n) <= (i % 2 === 0 ? MAX_XID8 : MAX_BIGINT);
  if (version !== VERSION || numbers.length !== 4 || !numbers.every(inRange)) {
    throw new ConfigError([
      { path: "since", message: "must be a cursor this server sent (a message's `cursor`)" },
    ]);
  }
  const [ct, ci, xt, xi] = numbers as [string, string, string, string];
  return {
    changes: { transactionId: ct, id: ci },
    executions: { transactionId: xt, id: xi },
  };
}

/** Whether `a` comes after `b` in its stream's order. */
export function isAfter(a: StreamPosition, b: StreamPosition): boolean {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  return ta === tb ? BigInt(a.id) > BigInt(b.id) : ta > tb;
}

/** The later of two positions. */
export function later(a: StreamPosition, b: StreamPosition): StreamPosition {
  return isAfter(a, b) ? a : b;
}
