import { describe, expect, it } from "vitest";
import { changesSql, headSql } from "../../adapters/drivers/sqlserver/queries.ts";
import { SourceError, type SourceTransaction } from "../../src/ports/source.ts";
import {
  FakeCdc,
  type FakeCdcOptions,
  type FakeChange,
  type FakeInstance,
  lsn,
  wall,
} from "../fixtures/sqlserver/fake-cdc.ts";
import { runReader, TABLES } from "../fixtures/sqlserver/harness.ts";

const ORDERS: FakeInstance = {
  name: "dbo_orders",
  schema: "dbo",
  table: "orders",
  columns: [
    { name: "id", type: "int" },
    { name: "total", type: "decimal" },
    { name: "note", type: "nvarchar", maxLength: -1 },
  ],
  minLsn: 10,
  createDate: wall("2024-01-01T00:00:00.000"),
};
const LINES: FakeInstance = {
  name: "dbo_lines",
  schema: "dbo",
  table: "lines",
  columns: [
    { name: "id", type: "int" },
    { name: "order_id", type: "int" },
    { name: "qty", type: "int" },
  ],
  minLsn: 10,
  createDate: wall("2024-01-01T00:00:00.000"),
};

function fake(options: Partial<FakeCdcOptions> = {}): FakeCdc {
  return new FakeCdc({
    instances: [structuredClone(ORDERS), structuredClone(LINES)],
    maxLsn: 20,
    times: { 20: wall("2024-05-01T09:00:00.000") },
    ...options,
  });
}

const order = (
  n: number,
  id: number,
  total: string,
  extra: Partial<FakeChange> = {},
): FakeChange => ({
  instance: "dbo_orders",
  lsn: n,
  seqval: n * 10,
  op: 2,
  row: { id, total, note: null },
  ...extra,
});

/** Every transaction with changes, as `lsn: op table id` lines. */
function summary(commits: readonly SourceTransaction[]): string[] {
  return commits
    .filter((t) => t.changes.length > 0)
    .map(
      (t) =>
        `${t.position.lsn}: ${t.changes
          .map((c) => `${c.op} ${c.table} ${JSON.stringify((c.after ?? c.before)?.id)}`)
          .join(", ")}`,
    );
}

const HEAD_PARAMS = (after: string) => ({
  after: { type: "lsn", value: after },
  i0: { type: "nvarchar", value: "dbo_orders" },
  i1: { type: "nvarchar", value: "dbo_lines" },
});

describe("sqlserver reader: SQL sent", () => {
  it("reads the catalog, then polls the head and each capture instance with LSN parameters", async () => {
    const cdc = fake();
    cdc.capture([order(30, 1, "12.50")], wall("2024-05-01T10:00:00.000"));
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 1 });
    expect(result.error).toBeNull();
    const texts = cdc.queries.map((q) => q.text);
    expect(texts.slice(0, 7)).toEqual([
      "SELECT DB_NAME() AS database_name, CAST(d.is_cdc_enabled AS int) AS is_cdc_enabled, CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition FROM sys.databases AS d WHERE d.database_id = DB_ID()",
      "EXEC sys.sp_cdc_help_change_data_capture",
      "EXEC sys.sp_cdc_get_captured_columns @capture_instance = @instance",
      "EXEC sys.sp_cdc_get_captured_columns @capture_instance = @instance",
      "SELECT status_desc FROM sys.dm_server_services WHERE servicename LIKE N'SQL Server Agent%'",
      "SELECT COUNT(*) AS capture_jobs FROM msdb.dbo.cdc_jobs WHERE database_id = DB_ID() AND job_type = N'capture'",
      headSql(2),
    ]);
    expect(headSql(1)).toBe(
      "SELECT sys.fn_cdc_get_max_lsn() AS max_lsn, sys.fn_cdc_map_lsn_to_time(sys.fn_cdc_get_max_lsn()) AS max_time, sys.fn_cdc_increment_lsn(@after) AS from_lsn, DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes, sys.fn_cdc_get_min_lsn(@i0) AS min_lsn_0, sys.fn_cdc_map_lsn_to_time(sys.fn_cdc_get_min_lsn(@i0)) AS min_time_0, sys.fn_cdc_decrement_lsn(sys.fn_cdc_get_min_lsn(@i0)) AS before_min_lsn_0",
    );
    expect(cdc.queries[2]?.params).toEqual({ instance: { type: "nvarchar", value: "dbo_orders" } });
    expect(cdc.queries[6]?.params).toEqual(HEAD_PARAMS(lsn(20)));
    expect(cdc.queries[7]).toEqual({
      text: "SELECT TOP (@limit) __$start_lsn, __$seqval, __$operation, __$update_mask, sys.fn_cdc_map_lsn_to_time(__$start_lsn) AS [__$commit_time], [id], CONVERT(varchar(48), [total]) AS [total], [note] FROM cdc.[fn_cdc_get_all_changes_dbo_orders](@from_lsn, @to_lsn, N'all update old') ORDER BY __$start_lsn, __$seqval, __$operation",
      params: {
        limit: { type: "int", value: 5000 },
        from_lsn: { type: "lsn", value: lsn(21) },
        to_lsn: { type: "lsn", value: lsn(30) },
      },
    });
    expect(cdc.queries[8]?.text).toBe(
      changesSql(
        "dbo_lines",
        LINES.columns.map((c, k) => ({ ...c, ordinal: k + 1, lob: false })),
      ),
    );
    expect(summary(result.commits)).toEqual([`${lsn(30)}: c dbo.orders 1`]);
  });

  it("sends no change query when nothing is new (an empty range), and reports no lag", async () => {
    const cdc = fake();
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 3 });
    expect(result.error).toBeNull();
    expect(result.commits).toEqual([]);
    expect(cdc.queries.filter((q) => q.text.includes("fn_cdc_get_all_changes_"))).toEqual([]);
    expect(result.statuses).toContainEqual({ connected: true, lagMs: 0 });
    expect(result.statuses.at(-1)).toEqual({ connected: false, lagMs: null });
    expect(cdc.closed).toBe(1);
  });
});

describe("sqlserver reader: transactions", () => {
  it("merges two capture instances by (start_lsn, seqval, operation), pairs 3+4, strips __$ columns", async () => {
    const cdc = fake({ utcOffsetMinutes: 120 });
    cdc.capture(
      [
        order(30, 1, "10.00", { seqval: 301 }),
        { instance: "dbo_lines", lsn: 30, seqval: 302, op: 2, row: { id: 7, order_id: 1, qty: 2 } },
        // An update of a line: before (3) and after (4) share __$seqval.
        { instance: "dbo_lines", lsn: 30, seqval: 303, op: 4, row: { id: 5, order_id: 9, qty: 3 } },
        { instance: "dbo_lines", lsn: 30, seqval: 303, op: 3, row: { id: 5, order_id: 9, qty: 1 } },
        order(30, 2, "5.00", { seqval: 304, op: 1 }),
      ],
      wall("2024-05-01T12:00:00.250"),
    );
    cdc.capture(
      [
        order(40, 1, "10.00", { seqval: 401, op: 3, row: { id: 1, total: "10.00", note: "a" } }),
        order(40, 1, "11.00", { seqval: 401, op: 4, row: { id: 1, total: "11.00", note: "b" } }),
      ],
      wall("2024-05-01T12:00:01.000"),
    );
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 1 });
    expect(result.error).toBeNull();
    expect(result.commits.map((t) => t.position)).toEqual([{ lsn: lsn(30) }, { lsn: lsn(40) }]);
    const [first, second] = result.commits;
    expect(first?.changes).toEqual([
      { table: "dbo.orders", op: "c", before: null, after: { id: 1, total: "10.00", note: null } },
      { table: "dbo.lines", op: "c", before: null, after: { id: 7, order_id: 1, qty: 2 } },
      {
        table: "dbo.lines",
        op: "u",
        before: { id: 5, order_id: 9, qty: 1 },
        after: { id: 5, order_id: 9, qty: 3 },
      },
      { table: "dbo.orders", op: "d", before: { id: 2, total: "5.00", note: null }, after: null },
    ]);
    // tran_end_time is the server's local time (UTC+2 here): 12:00:00.250 local = 10:00:00.250Z.
    expect(first?.committedAtMs).toBe(Date.parse("2024-05-01T10:00:00.250Z"));
    expect(first?.source).toEqual({
      db: "shop",
      lsn: lsn(30),
      commit_lsn: "00000000:00000000:001e",
    });
    expect(second?.changes).toEqual([
      {
        table: "dbo.orders",
        op: "u",
        before: { id: 1, total: "10.00", note: "a" },
        after: { id: 1, total: "11.00", note: "b" },
      },
    ]);
  });

  it("fills an unchanged (max) column of an update's before row (CDC writes NULL there)", async () => {
    // A captured subset of the table's columns (source positions 1, 4, 6), listed out of order:
    // the update mask's bits follow their rank (1, 2, 3), not their source positions.
    const orders = {
      ...structuredClone(ORDERS),
      columns: [
        { name: "note", type: "nvarchar", maxLength: -1, position: 6 },
        { name: "id", type: "int", position: 1 },
        { name: "total", type: "decimal", position: 4 },
      ],
    };
    const cdc = fake({ instances: [orders, structuredClone(LINES)] });
    cdc.capture([
      // Only total (ordinal 2) changed: mask 0b010. note (ordinal 3) is nvarchar(max): NULL in 3.
      order(30, 1, "", {
        seqval: 1,
        op: 3,
        mask: [0b010],
        row: { id: 1, total: "1.00", note: null },
      }),
      order(30, 1, "", {
        seqval: 1,
        op: 4,
        mask: [0b010],
        row: { id: 1, total: "2.00", note: "long" },
      }),
      // note changed (mask bit 3): its NULL before stays NULL.
      order(31, 2, "", {
        seqval: 1,
        op: 3,
        mask: [0b100],
        row: { id: 2, total: "1.00", note: null },
      }),
      order(31, 2, "", {
        seqval: 1,
        op: 4,
        mask: [0b100],
        row: { id: 2, total: "1.00", note: "new" },
      }),
    ]);
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 1 });
    expect(result.commits.map((t) => t.changes[0]?.before)).toEqual([
      { id: 1, total: "1.00", note: "long" },
      { id: 2, total: "1.00", note: null },
    ]);
  });

  it("reads in batches without splitting a transaction, nothing lost or doubled", async () => {
    const cdc = fake();
    const changes: FakeChange[] = [];
    // 40: 3 rows (bigger than a batch of 2), 41..45: one row each, 46: 2 rows of lines.
    for (let k = 0; k < 3; k++) changes.push(order(40, 100 + k, "1.00", { seqval: 400 + k }));
    for (let n = 41; n <= 45; n++) changes.push(order(n, n, "1.00"));
    changes.push({
      instance: "dbo_lines",
      lsn: 46,
      seqval: 1,
      op: 2,
      row: { id: 1, order_id: 1, qty: 1 },
    });
    changes.push({
      instance: "dbo_lines",
      lsn: 46,
      seqval: 2,
      op: 2,
      row: { id: 2, order_id: 1, qty: 1 },
    });
    cdc.capture(changes);
    const result = await runReader(cdc, {
      position: { lsn: lsn(20) },
      polls: 8,
      reader: { batchRows: 2 },
    });
    expect(result.error).toBeNull();
    expect(summary(result.commits)).toEqual([
      `${lsn(40)}: c dbo.orders 100, c dbo.orders 101, c dbo.orders 102`,
      ...[41, 42, 43, 44, 45].map((n) => `${lsn(n)}: c dbo.orders ${n}`),
      `${lsn(46)}: c dbo.lines 1, c dbo.lines 2`,
    ]);
    // The whole transaction 40 was read as one range [40, 40] with no row limit.
    expect(
      cdc.queries.some(
        (q) =>
          q.params.from_lsn?.value === lsn(40) &&
          q.params.to_lsn?.value === lsn(40) &&
          q.params.limit?.value === 2_147_483_647,
      ),
    ).toBe(true);
  });
});

describe("sqlserver reader: positions", () => {
  it('start "now": commits an empty transaction at the max LSN first, then only what follows', async () => {
    const cdc = fake();
    cdc.capture([order(15, 1, "1.00")]);
    cdc.state.maxLsn = 20;
    const first = await runReader(cdc, { start: "now", polls: 1 });
    expect(first.commits).toEqual([
      {
        changes: [],
        position: { lsn: lsn(20) },
        committedAtMs: null,
        source: { db: "shop", lsn: lsn(20), commit_lsn: "00000000:00000000:0014" },
      },
    ]);
    cdc.capture([order(25, 2, "2.00")]);
    const second = await runReader(cdc, { position: first.position, polls: 1 });
    expect(summary(second.commits)).toEqual([`${lsn(25)}: c dbo.orders 2`]);
  });

  it('start "beginning": starts just before the oldest capture instance\'s first LSN', async () => {
    const cdc = fake();
    (cdc.state.instances[1] as FakeInstance).minLsn = 12;
    cdc.capture([
      order(10, 1, "1.00"),
      { instance: "dbo_lines", lsn: 12, seqval: 1, op: 2, row: { id: 3, order_id: 1, qty: 1 } },
    ]);
    // polls: the first head query finds the start position, the second reads.
    const result = await runReader(cdc, { start: "beginning", polls: 2 });
    expect(result.error).toBeNull();
    expect(result.commits[0]).toMatchObject({ changes: [], position: { lsn: lsn(9) } });
    // dbo_lines starts after the position but was created after it: read from its first LSN.
    expect(summary(result.commits)).toEqual([
      `${lsn(10)}: c dbo.orders 1`,
      `${lsn(12)}: c dbo.lines 3`,
    ]);
    const lines = cdc.queries.find((q) => q.text.includes("fn_cdc_get_all_changes_dbo_lines"));
    expect(lines?.params.from_lsn).toEqual({ type: "lsn", value: lsn(12) });
  });

  it("resumes exactly after a stop between transactions and after a failed commit", async () => {
    const cdc = fake();
    const all: FakeChange[] = [];
    for (let n = 21; n <= 29; n++) all.push(order(n, n, `${n}.00`));
    cdc.capture(all);
    // Run 1 stops (abort) right after the 3rd transaction is committed.
    const one = await runReader(cdc, { position: { lsn: lsn(20) }, commits: 3 });
    expect(one.error).toBeNull();
    expect(one.position).toEqual({ lsn: lsn(23) });
    // Run 2: the supervisor's commit of the 2nd transaction fails: the run rejects.
    const two = await runReader(cdc, { position: one.position, failCommit: 2 });
    expect(two.error).toBeInstanceOf(SourceError);
    expect(two.position).toEqual({ lsn: lsn(24) });
    // Run 3 goes on to the end.
    const three = await runReader(cdc, { position: two.position, polls: 2 });
    const seen = [...summary(one.commits), ...summary(two.commits), ...summary(three.commits)];
    expect(seen).toEqual(all.map((c) => `${lsn(c.lsn)}: c dbo.orders ${c.lsn}`));
  });

  it("moves a quiet source's position to the newest LSN read, at most every heartbeatMs", async () => {
    let clock = 0;
    const cdc = fake({
      before: () => {
        clock += 1000;
      },
    });
    cdc.capture([{ instance: "other_table", lsn: 50, seqval: 1, op: 2, row: {} }]);
    const result = await runReader(cdc, {
      position: { lsn: lsn(20) },
      polls: 3,
      reader: { heartbeatMs: 5000, now: () => clock },
    });
    expect(result.error).toBeNull();
    expect(result.commits).toEqual([
      {
        changes: [],
        position: { lsn: lsn(50) },
        committedAtMs: null,
        source: { db: "shop", lsn: lsn(50), commit_lsn: "00000000:00000000:0032" },
      },
    ]);
  });

  it("reports lag as the max LSN's time minus the last transaction's while behind", async () => {
    const cdc = fake();
    cdc.capture([order(30, 1, "1.00")], wall("2024-05-01T10:00:00.000"));
    cdc.capture([order(31, 2, "1.00")], wall("2024-05-01T10:00:05.000"));
    cdc.capture([order(32, 3, "1.00")], wall("2024-05-01T10:00:09.000"));
    const result = await runReader(cdc, {
      position: { lsn: lsn(20) },
      polls: 1,
      reader: { batchRows: 1 },
    });
    expect(result.statuses.filter((s) => s.connected)).toEqual([
      { connected: true, lagMs: null },
      { connected: true, lagMs: 9000 },
    ]);
  });

  it("switches to a table's newer capture instance (a schema change) at its first LSN", async () => {
    const v2: FakeInstance = {
      ...structuredClone(ORDERS),
      name: "dbo_orders_v2",
      columns: [...ORDERS.columns, { name: "currency", type: "char" }],
      minLsn: 35,
      createDate: wall("2024-05-01T11:00:00.000"),
    };
    const cdc = fake({ instances: [structuredClone(ORDERS), structuredClone(LINES), v2] });
    cdc.capture([order(30, 1, "1.00"), order(36, 2, "2.00")]);
    // After its creation both instances capture the same changes; the new one has the new column.
    cdc.capture([
      {
        instance: "dbo_orders_v2",
        lsn: 36,
        seqval: 360,
        op: 2,
        row: { id: 2, total: "2.00", note: null, currency: "EUR" },
      },
    ]);
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 2 });
    expect(result.error).toBeNull();
    expect(summary(result.commits)).toEqual([
      `${lsn(30)}: c dbo.orders 1`,
      `${lsn(36)}: c dbo.orders 2`,
    ]);
    expect(result.commits.at(-1)?.changes[0]?.after).toEqual({
      id: 2,
      total: "2.00",
      note: null,
      currency: "EUR",
    });
    const old = cdc.queries.find((q) => q.text.includes("fn_cdc_get_all_changes_dbo_orders]"));
    expect(old?.params.to_lsn).toEqual({ type: "lsn", value: lsn(34) });
  });

  it("reads the catalog again when a capture instance vanished (the old one dropped)", async () => {
    const v2: FakeInstance = {
      ...structuredClone(ORDERS),
      name: "dbo_orders_v2",
      minLsn: 25,
      createDate: wall("2024-05-01T11:00:00.000"),
    };
    const cdc = fake({ instances: [structuredClone(ORDERS), structuredClone(LINES), v2] });
    cdc.capture([
      {
        instance: "dbo_orders_v2",
        lsn: 30,
        seqval: 1,
        op: 2,
        row: { id: 9, total: "1.00", note: null },
      },
    ]);
    let dropped = false;
    cdc.state.before = (query, self) => {
      if (!dropped && query.text.startsWith("SELECT sys.fn_cdc_get_max_lsn()")) {
        dropped = true;
        self.state.instances = self.state.instances.filter((i) => i.name !== "dbo_orders");
      }
    };
    const result = await runReader(cdc, { position: { lsn: lsn(29) }, polls: 2 });
    expect(result.error).toBeNull();
    expect(summary(result.commits)).toEqual([`${lsn(30)}: c dbo.orders 9`]);
  });
  it("a capture instance dropped before the reader reached its successor: SOURCE_POSITION_PURGED", async () => {
    const v2: FakeInstance = {
      ...structuredClone(ORDERS),
      name: "dbo_orders_v2",
      minLsn: 35,
      createDate: wall("2024-05-01T11:00:00.000"),
    };
    const cdc = fake({ instances: [structuredClone(ORDERS), structuredClone(LINES), v2] });
    cdc.capture([order(30, 1, "1.00")]);
    cdc.capture([
      {
        instance: "dbo_orders_v2",
        lsn: 36,
        seqval: 1,
        op: 2,
        row: { id: 2, total: "1.00", note: null },
      },
    ]);
    let dropped = false;
    cdc.state.before = (query, self) => {
      if (!dropped && query.text.startsWith("SELECT sys.fn_cdc_get_max_lsn()")) {
        dropped = true;
        self.state.instances = self.state.instances.filter((i) => i.name !== "dbo_orders");
      }
    };
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 3 });
    expect((result.error as SourceError).code).toBe("SOURCE_POSITION_PURGED");
    expect(result.commits).toEqual([]);
  });
});

describe("sqlserver reader: errors", () => {
  async function failure(cdc: FakeCdc, options: Parameters<typeof runReader>[1] = {}) {
    const result = await runReader(cdc, { position: { lsn: lsn(20) }, polls: 2, ...options });
    expect(result.error).toBeInstanceOf(SourceError);
    const error = result.error as SourceError;
    expect(error.message).not.toContain("s3cret-pw");
    return error;
  }

  it("CDC not enabled on the database", async () => {
    const error = await failure(fake({ cdcEnabled: false }));
    expect([error.code, error.transient]).toEqual(["SOURCE_CDC_DISABLED", false]);
    expect(error.message).toContain("EXEC sys.sp_cdc_enable_db");
  });

  it("a table that does not exist, one not tracked, one whose instance the login may not read", async () => {
    const tables = [...TABLES, { table: "dbo.payments", entityType: "Payment" }];
    const missing = await failure(fake(), { tables });
    expect(missing.code).toBe("SOURCE_TABLE_NOT_FOUND");
    const untracked = await failure(fake({ tables: { "dbo.payments": false } }), { tables });
    expect(untracked.code).toBe("SOURCE_TABLE_NOT_TRACKED");
    expect(untracked.message).toContain("@source_schema = N'dbo', @source_name = N'payments'");
    const hidden = await failure(fake({ hidden: ["dbo_lines"], tables: { "dbo.lines": true } }));
    expect(hidden.code).toBe("SOURCE_PRIVILEGES");
    expect(hidden.message).toContain("gating role");
  });

  it("refuses hostile table names before any query carries them", async () => {
    for (const table of [
      "dbo.orders; DROP TABLE x",
      "orders",
      "a.b.c",
      "dbo.[x\u0000]",
      "dbo.[a]b]",
    ]) {
      const cdc = fake();
      const error = await failure(cdc, { tables: [{ table, entityType: "X" }] });
      expect(error.code).toBe("SOURCE_TABLE_INVALID");
      expect(cdc.queries).toEqual([]);
    }
    const twice = fake();
    const duplicate = await failure(twice, {
      tables: [...TABLES, { table: "[DBO].[Orders]", entityType: "X" }],
    });
    expect([duplicate.code, twice.queries]).toEqual(["SOURCE_TABLE_INVALID", []]);
    // Bracketed names are fine and travel as parameters only.
    const cdc = fake({ tables: { "dbo.Order Lines": false } });
    const error = await failure(cdc, {
      tables: [{ table: "[dbo].[Order Lines]", entityType: "X" }],
    });
    expect(error.code).toBe("SOURCE_TABLE_NOT_TRACKED");
    expect(cdc.queries.at(-1)?.params).toEqual({
      schema: { type: "nvarchar", value: "dbo" },
      table: { type: "nvarchar", value: "Order Lines" },
    });
  });

  it("refuses a capture instance whose name could not be quoted into a function name", async () => {
    const bad = { ...structuredClone(ORDERS), name: "x](1,1,'all');DROP TABLE t;--" };
    const error = await failure(fake({ instances: [bad, structuredClone(LINES)] }));
    expect(error.code).toBe("SOURCE_CAPTURE_INSTANCE_UNSAFE");
  });

  it("id/tenant/columns not captured by the capture instance", async () => {
    const error = await failure(fake(), {
      tables: [{ table: "dbo.orders", entityType: "Order", tenantColumn: "org_id" }],
    });
    expect(error.code).toBe("SOURCE_COLUMN_NOT_CAPTURED");
    expect(error.message).toContain("org_id");
  });

  it("SQL Server Agent stopped, capture job missing; checks skipped when not visible or on Azure SQL Database", async () => {
    expect((await failure(fake({ agent: "Stopped" }))).code).toBe("SOURCE_CDC_AGENT_STOPPED");
    expect((await failure(fake({ captureJobs: 0 }))).code).toBe("SOURCE_CDC_CAPTURE_JOB_MISSING");
    const denied = Object.assign(new Error("VIEW SERVER STATE permission was denied"), {
      number: 300,
    });
    const hiddenChecks = await runReader(fake({ agent: denied, captureJobs: denied }), {
      position: { lsn: lsn(20) },
      polls: 1,
    });
    expect(hiddenChecks.error).toBeNull();
    const azure = fake({ engineEdition: 5, agent: "Stopped", captureJobs: 0 });
    expect((await runReader(azure, { position: { lsn: lsn(20) }, polls: 1 })).error).toBeNull();
    expect(azure.queries.some((q) => q.text.includes("dm_server_services"))).toBe(false);
  });

  it("a position older than the retention: SOURCE_POSITION_PURGED", async () => {
    // The cleanup job moved dbo_orders' first LSN to 30 (a commit of 2024-05-01 09:30, after the
    // instance was created), while the position is 20.
    const cdc = fake({
      times: { 20: wall("2024-05-01T09:00:00.000"), 30: wall("2024-05-01T09:30:00.000") },
    });
    (cdc.state.instances[0] as FakeInstance).minLsn = 30;
    cdc.capture([order(31, 1, "1.00")]);
    const error = await failure(cdc);
    expect([error.code, error.transient]).toEqual(["SOURCE_POSITION_PURGED", false]);
    expect(error.message).toContain("dbo_orders");
    expect(cdc.queries.some((q) => q.text.includes("fn_cdc_get_all_changes_"))).toBe(false);
  });

  it("the function's own out-of-range error (313) and permission error (229) map to codes", async () => {
    const outOfRange = fake({
      before: (q) => {
        if (q.text.includes("fn_cdc_get_all_changes_")) {
          throw Object.assign(new Error("An insufficient number of arguments were supplied"), {
            number: 313,
          });
        }
      },
    });
    outOfRange.capture([order(30, 1, "1.00")]);
    expect((await failure(outOfRange)).code).toBe("SOURCE_POSITION_PURGED");
    const denied = fake({
      before: (q) => {
        if (q.text.includes("fn_cdc_get_all_changes_")) {
          throw Object.assign(
            new Error(
              "The SELECT permission was denied on the object 'fn_cdc_get_all_changes_dbo_orders'",
            ),
            { number: 229, code: "EREQUEST" },
          );
        }
      },
    });
    denied.capture([order(30, 1, "1.00")]);
    const error = await failure(denied);
    expect(error.code).toBe("SOURCE_PRIVILEGES");
    expect(error.message).toContain("error 229");
  });

  it("a stored position that is not an LSN", async () => {
    const result = await runReader(fake(), { position: { file: "bin.000001", pos: 4 } });
    expect((result.error as SourceError).code).toBe("SOURCE_POSITION_INVALID");
  });

  it("a dropped connection is transient and names no secret", async () => {
    const cdc = fake({
      before: (q) => {
        if (q.text.startsWith("SELECT sys.fn_cdc_get_max_lsn()")) {
          throw Object.assign(
            new Error(
              "Connection lost - read ECONNRESET (mssql://reader:s3cret-pw@db.example:1433/shop)",
            ),
            { code: "ESOCKET" },
          );
        }
      },
    });
    const error = await failure(cdc);
    expect([error.code, error.transient]).toEqual(["SOURCE_CONNECTION_LOST", true]);
    expect(error.message).toContain("[redacted]");
  });

  it("an abort while connecting resolves the run at once and closes the late connection", async () => {
    const { createSqlServerReader } = await import("../../adapters/drivers/sqlserver/index.ts");
    const { silentLogger } = await import("../../src/ports/logger.ts");
    const cdc = fake();
    let arrive: () => void = () => {};
    const reader = createSqlServerReader({
      connect: () =>
        new Promise((resolve) => {
          arrive = () => resolve(cdc.connection());
        }),
    });
    const controller = new AbortController();
    const running = reader.run({
      url: "mssql://u:p@h/db",
      readEnv: () => undefined,
      tables: TABLES,
      position: null,
      start: "now",
      signal: controller.signal,
      logger: silentLogger,
      commit: async () => {},
      status: () => {},
    });
    controller.abort();
    await expect(running).resolves.toBeUndefined();
    arrive();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(cdc.closed).toBe(1);
    expect(cdc.queries).toEqual([]);
  });

  it("an abort while waiting between polls resolves the run", async () => {
    const controller = new AbortController();
    const { createSqlServerReader } = await import("../../adapters/drivers/sqlserver/index.ts");
    const cdc = fake();
    let heads = 0;
    const reader = createSqlServerReader({
      pollIntervalMs: 3_600_000,
      connect: async () => {
        const inner = cdc.connection();
        return {
          ...inner,
          query: async (text, params, signal) => {
            const result = await inner.query(text, params, signal);
            if (text.startsWith("SELECT sys.fn_cdc_get_max_lsn()") && ++heads === 1) {
              setTimeout(() => controller.abort(), 0);
            }
            return result;
          },
        };
      },
    });
    const { silentLogger } = await import("../../src/ports/logger.ts");
    await expect(
      reader.run({
        url: "mssql://u:p@h/db",
        readEnv: () => undefined,
        tables: TABLES,
        position: { lsn: lsn(20) },
        start: "now",
        signal: controller.signal,
        logger: silentLogger,
        commit: async () => {},
        status: () => {},
      }),
    ).resolves.toBeUndefined();
    expect(heads).toBe(1);
  });
});
