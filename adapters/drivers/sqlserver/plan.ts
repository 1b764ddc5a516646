/**
 * Which capture instance to read for each table in one poll, from where, and up to which LSN:
 * decided from the head query's row (queries.ts `headSql`), with no I/O.
 */
import { SourceError } from "../../../src/ports/source.ts";
import type { CaptureInstance, Catalog } from "./catalog.ts";
import { compareLsn, lsnFromBytes, minLsn, ZERO_LSN } from "./lsn.ts";

/** One capture instance to read, from `from` to the poll's end. */
export interface PlanItem {
  /** The configured `table`. */
  table: string;
  instance: CaptureInstance;
  from: string;
}

/** A capture instance the catalog lists reports no LSN range: read the catalog again. */
export class CatalogChanged extends Error {}

type HeadRow = Readonly<Record<string, unknown>>;

/** Instance `i`'s first LSN, or null when it is gone (fn_cdc_get_min_lsn answers 0x00...). */
export function instanceMin(row: HeadRow, i: number): string | null {
  const lsn = lsnFromBytes(row[`min_lsn_${i}`]);
  return lsn === null || lsn === ZERO_LSN ? null : lsn;
}

function purged(table: string, instance: string): SourceError {
  return new SourceError(
    "SOURCE_POSITION_PURGED",
    `SQL Server no longer holds the changes of ${table} at the source's position: the CDC cleanup job removed them from capture instance ${instance} (the position is older than the retention), or a capture instance was dropped before the reader reached its successor. Changes made meanwhile are lost to this source: delete and create the source again, and keep changes longer (EXEC sys.sp_cdc_change_job @job_type = N'cleanup', @retention = <minutes>)`,
    false,
  );
}

/**
 * The instances to read from `from` (the LSN after the position) up to at most `max`. Per table:
 * the newest instance whose first LSN is at or before `from`; while a newer one (a schema change)
 * starts later, the range ends just before it, so the next poll reads on from the newer one.
 * When every instance starts after `from`, the oldest is read from its first LSN, unless the
 * cleanup job moved that LSN (its commit time is after the instance's creation) or one of the
 * table's instances was dropped while the reader ran (`lostInstance`): then changes are lost.
 */
export function planRange(
  catalog: Catalog,
  row: HeadRow,
  from: string,
  max: string,
  lostInstance: ReadonlySet<string>,
): { plan: PlanItem[]; to: string } {
  let to = max;
  const plan: PlanItem[] = [];
  let offset = 0;
  for (const table of catalog.tables) {
    const mins = table.instances.map((_, k) => instanceMin(row, offset + k));
    if (mins.some((min) => min === null)) throw new CatalogChanged();
    let chosen = -1;
    for (let k = table.instances.length - 1; k >= 0; k--) {
      if (compareLsn(mins[k] as string, from) <= 0) {
        chosen = k;
        break;
      }
    }
    let instanceFrom = from;
    if (chosen === -1) {
      const oldest = table.instances[0] as CaptureInstance;
      const minTime = row[`min_time_${offset}`];
      const cleaned =
        minTime instanceof Date &&
        oldest.createdAt !== null &&
        minTime.getTime() > oldest.createdAt.getTime();
      if (cleaned || lostInstance.has(table.table.table))
        throw purged(table.table.table, oldest.name);
      chosen = 0;
      instanceFrom = mins[0] as string;
    }
    if (chosen < table.instances.length - 1) {
      const before = lsnFromBytes(row[`before_min_lsn_${offset + chosen + 1}`]);
      if (before !== null) to = minLsn(to, before);
    }
    plan.push({
      table: table.table.table,
      instance: table.instances[chosen] as CaptureInstance,
      from: instanceFrom,
    });
    offset += table.instances.length;
  }
  return { plan, to };
}
