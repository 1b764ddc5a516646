/**
 * Change-table rows of several capture instances to source transactions: merged in apply order
 * (`__$start_lsn`, `__$seqval`, `__$operation`), grouped by `__$start_lsn` (the commit LSN every
 * change of one transaction shares), update-before (3) paired with update-after (4), the `__$`
 * columns left out.
 */
import type { JsonObject } from "../../../src/json.ts";
import type { SourceChange } from "../../../src/ports/source.ts";
import { decodeRow } from "./decode.ts";
import { lsnFromBytes } from "./lsn.ts";
import type { CapturedColumn } from "./queries.ts";

/** The rows one capture instance returned for one range. */
export interface InstanceRows {
  /** The configured `table` the instance captures. */
  table: string;
  instance: string;
  columns: readonly CapturedColumn[];
  rows: readonly Readonly<Record<string, unknown>>[];
}

/** One transaction's decoded changes. */
export interface CdcTransaction {
  lsn: string;
  /** `tran_end_time`: the server's local wall clock, as a Date whose UTC fields hold it. */
  commitTime: Date | null;
  changes: SourceChange[];
}

interface Entry {
  lsn: string;
  seqval: string;
  op: number;
  source: number;
  index: number;
  row: Readonly<Record<string, unknown>>;
}

function entryOf(row: Readonly<Record<string, unknown>>, source: number, index: number): Entry {
  const lsn = lsnFromBytes(row.__$start_lsn);
  const seqval = lsnFromBytes(row.__$seqval);
  const op = Number(row.__$operation);
  if (lsn === null || seqval === null || ![1, 2, 3, 4].includes(op)) {
    throw new Error(
      "a change row without a binary(10) __$start_lsn/__$seqval and an __$operation 1-4",
    );
  }
  return { lsn, seqval, op, source, index, row };
}

function compareEntries(a: Entry, b: Entry): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  if (a.seqval !== b.seqval) return a.seqval < b.seqval ? -1 : 1;
  if (a.op !== b.op) return a.op - b.op;
  return a.source - b.source || a.index - b.index;
}

/** `sys.fn_cdc_is_bit_set(ordinal, mask)`: bit 1 is the lowest bit of the mask's last byte. */
export function isBitSet(mask: unknown, ordinal: number): boolean {
  if (!(mask instanceof Uint8Array) || ordinal < 1) return false;
  const byte = mask[mask.length - 1 - Math.floor((ordinal - 1) / 8)];
  return byte !== undefined && ((byte >> ((ordinal - 1) % 8)) & 1) === 1;
}

/** An update's before row with unchanged large-object columns (written as NULL) filled in. */
function fillUnchangedLobs(
  columns: readonly CapturedColumn[],
  before: JsonObject,
  after: JsonObject,
  mask: unknown,
): JsonObject {
  for (const column of columns) {
    if (column.lob && before[column.name] === null && !isBitSet(mask, column.ordinal)) {
      before[column.name] = after[column.name] ?? null;
    }
  }
  return before;
}

/** What `toTransactions` could not pair (never expected: logged by the reader). */
export interface Unpaired {
  lsn: string;
  table: string;
  op: number;
}

/** Merges, orders and groups rows into transactions (ascending commit LSN). */
export function toTransactions(
  sources: readonly InstanceRows[],
  onUnpaired: (unpaired: Unpaired) => void = () => {},
): CdcTransaction[] {
  const entries: Entry[] = [];
  sources.forEach((source, s) => {
    source.rows.forEach((row, i) => {
      entries.push(entryOf(row, s, i));
    });
  });
  entries.sort(compareEntries);
  const transactions: CdcTransaction[] = [];
  let current: CdcTransaction | null = null;
  // Update-before rows waiting for their update-after, by instance and __$seqval.
  let pending = new Map<string, Entry[]>();
  const flush = () => {
    if (!current) return;
    for (const waiting of pending.values()) {
      for (const entry of waiting) {
        onUnpaired({ lsn: entry.lsn, table: sources[entry.source]?.table ?? "", op: entry.op });
      }
    }
    pending = new Map();
    transactions.push(current);
  };
  for (const entry of entries) {
    if (!current || current.lsn !== entry.lsn) {
      flush();
      const time = entry.row.__$commit_time;
      current = { lsn: entry.lsn, commitTime: time instanceof Date ? time : null, changes: [] };
    }
    const source = sources[entry.source] as InstanceRows;
    const key = `${entry.source}:${entry.seqval}`;
    if (entry.op === 3) {
      const waiting = pending.get(key) ?? [];
      waiting.push(entry);
      pending.set(key, waiting);
      continue;
    }
    const image = decodeRow(source.columns, entry.row);
    if (entry.op === 1) {
      current.changes.push({ table: source.table, op: "d", before: image, after: null });
    } else if (entry.op === 2) {
      current.changes.push({ table: source.table, op: "c", before: null, after: image });
    } else {
      const old = pending.get(key)?.shift();
      if (!old) onUnpaired({ lsn: entry.lsn, table: source.table, op: entry.op });
      const before = old
        ? fillUnchangedLobs(
            source.columns,
            decodeRow(source.columns, old.row),
            image,
            entry.row.__$update_mask,
          )
        : null;
      current.changes.push({ table: source.table, op: "u", before, after: image });
    }
  }
  flush();
  return transactions;
}
