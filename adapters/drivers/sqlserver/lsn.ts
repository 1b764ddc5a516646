/**
 * SQL Server log sequence numbers: `binary(10)` values, kept as 20 lowercase hex digits so that
 * comparing two of them as strings compares them as numbers (same length, big-endian).
 */

/** The LSN before every other: "nothing read yet". */
export const ZERO_LSN = "00000000000000000000";

const LSN_HEX = /^[0-9a-f]{20}$/;

/** `lsn` is 20 lowercase hex digits. */
export function isLsn(value: unknown): value is string {
  return typeof value === "string" && LSN_HEX.test(value);
}

/** A `binary(10)` value as the driver returns it (a Buffer) to hex; anything else to null. */
export function lsnFromBytes(value: unknown): string | null {
  if (!(value instanceof Uint8Array) || value.length !== 10) return null;
  let hex = "";
  for (const byte of value) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** Hex back to the 10 bytes sent as a `binary(10)` parameter. */
export function lsnToBytes(lsn: string): Uint8Array {
  const bytes = new Uint8Array(10);
  for (let i = 0; i < 10; i++) bytes[i] = Number.parseInt(lsn.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareLsn(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The greater of two LSNs. */
export function maxLsn(a: string, b: string): string {
  return a > b ? a : b;
}

/** The lesser of two LSNs. */
export function minLsn(a: string, b: string): string {
  return a < b ? a : b;
}
