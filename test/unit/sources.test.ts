/**
 * The pure parts of sources: the change-log rows of a source transaction (envelope, id, tenant,
 * columns), the binlog value decoding, the URL's encryption at rest and its redaction from
 * failure messages.
 */

import { describe, expect, it } from "vitest";
import { decodeRow } from "../../adapters/drivers/mysql/decode.ts";
import { classifyMysqlError } from "../../adapters/drivers/mysql/errors.ts";
import { connectionOptions } from "../../adapters/drivers/mysql/mysql-reader.ts";
import { SourceCreateSchema } from "../../src/api/schemas/sources.ts";
import { sourceChangeRows, tenantColumns } from "../../src/sources/change-rows.ts";
import { describeFailure, redactUrl } from "../../src/sources/failure.ts";
import { decryptSourceUrl, encryptSourceUrl } from "../../src/sources/url-secret.ts";

const noEnv = () => undefined;

describe("sourceChangeRows", () => {
  const transaction = {
    changes: [
      {
        table: "app.orders",
        op: "u" as const,
        before: { id: 1, org: 7, total: "1.00", secret: "x" },
        after: { id: 1, org: 7, total: "2.00", secret: "y" },
      },
      { table: "app.untracked", op: "c" as const, before: null, after: { id: 2 } },
      {
        table: "app.users",
        op: "d" as const,
        before: { uid: "9007199254740993", tenant: "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42" },
        after: null,
      },
    ],
    position: { file: "bin.000002", pos: 1234, gtid: "0-1-5" },
    committedAtMs: 1_700_000_000_000,
    source: { file: "bin.000002", pos: 1234, gtid: "0-1-5" },
  };
  const tables = [
    {
      table: "app.orders",
      entityType: "Order",
      tenantColumn: "org",
      columns: ["id", "org", "total"],
    },
    { table: "app.users", entityType: "User", idColumn: "uid", tenantColumn: "tenant" },
  ];

  it("writes the Debezium envelope of each tracked change, in order, as the capture does", () => {
    const unusable: string[] = [];
    const rows = sourceChangeRows("mysql", tables, transaction, (t) => unusable.push(t));
    expect(rows).toEqual([
      {
        entityType: "Order",
        modificationType: "UPDATE",
        objectId: "1",
        objectData: {
          op: "u",
          before: { id: 1, org: 7, total: "1.00" },
          after: { id: 1, org: 7, total: "2.00" },
          source: {
            connector: "mysql",
            db: "app",
            table: "orders",
            ts_ms: 1_700_000_000_000,
            file: "bin.000002",
            pos: 1234,
            gtid: "0-1-5",
          },
        },
        fkCustomerOrg: "7",
        tenantId: null,
      },
      {
        entityType: "User",
        modificationType: "DELETE",
        objectId: "9007199254740993",
        objectData: expect.objectContaining({ op: "d", after: null }),
        fkCustomerOrg: null,
        tenantId: "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42",
      },
    ]);
    expect(unusable).toEqual([]);
  });

  it("names the schema for SQL Server, and the connector cannot be overridden by the reader", () => {
    const [row] = sourceChangeRows(
      "sqlserver",
      [{ table: "dbo.orders", entityType: "Order" }],
      {
        ...transaction,
        changes: [{ table: "dbo.orders", op: "c", before: null, after: { id: 5 } }],
        source: { connector: "evil", lsn: "0x01", db: "shop" },
      },
      () => {},
    );
    expect(row?.objectData.source).toEqual({
      connector: "sqlserver",
      schema: "dbo",
      table: "orders",
      db: "shop",
      lsn: "0x01",
      ts_ms: 1_700_000_000_000,
    });
  });

  it("routes tenants: integers to fk_customer_org, UUIDs to tenant_id, anything else nowhere", () => {
    expect(tenantColumns(7)).toEqual({ fkCustomerOrg: "7", tenantId: null, unusable: false });
    expect(tenantColumns("9223372036854775808").unusable).toBe(true);
    expect(tenantColumns("acme").unusable).toBe(true);
    expect(tenantColumns(null)).toEqual({ fkCustomerOrg: null, tenantId: null, unusable: false });
  });
});

describe("decodeRow", () => {
  it("keeps values exact and writes dates as ISO", () => {
    expect(
      decodeRow(
        [
          { name: "at", type: 18 },
          { name: "ts", type: 17 },
          { name: "d", type: 10 },
        ],
        {
          at: "2024-01-02 03:04:05.500",
          ts: "2024-01-02 03:04:05",
          d: "2024-01-02",
          zero: "0000-00-00 00:00:00",
          bin: new Uint8Array([0, 255]),
          big: 2n ** 64n,
          n: null,
        },
      ),
    ).toEqual({
      at: "2024-01-02T03:04:05.500",
      ts: "2024-01-02T03:04:05Z",
      d: "2024-01-02",
      zero: "0000-00-00 00:00:00",
      bin: "AP8=",
      big: "18446744073709551616",
      n: null,
    });
  });

  it("decodes SET as an array, the invalid ENUM value as '', YEAR 0000 as 0 and FLOAT as MySQL shows it", () => {
    // As zongji hands them over: SET and ENUM columns are STRING (254) with the real type in the metadata.
    const columns = [
      { name: "s", type: 254, metadata: { type: 248 } },
      { name: "empty", type: 254, metadata: { type: 248 } },
      { name: "e", type: 254, metadata: { type: 247 } },
      { name: "bad", type: 254, metadata: { type: 247 } },
      { name: "y", type: 13 },
      { name: "y0", type: 13 },
      { name: "f", type: 4 },
      { name: "tiny", type: 4 },
      { name: "d", type: 5 },
      { name: "n", type: 254, metadata: { type: 248 } },
    ];
    expect(
      decodeRow(columns, {
        s: "x,z",
        empty: "",
        e: "b",
        bad: undefined,
        y: 2026,
        y0: 1900,
        f: Math.fround(3.14),
        tiny: Math.fround(1.0000001),
        d: 0.1 + 0.2,
        n: null,
      }),
    ).toEqual({
      s: ["x", "z"],
      empty: [],
      e: "b",
      bad: "",
      y: 2026,
      y0: 0,
      f: 3.14,
      tiny: 1.0000001,
      d: 0.1 + 0.2,
      n: null,
    });
  });
});

describe("the URL at rest", () => {
  const key = "k".repeat(32);
  it("round-trips, and does not decrypt under another key or on another source's row", async () => {
    const sealed = await encryptSourceUrl("mysql://u:p@h/db", "source-a", key);
    expect(sealed).not.toContain("p@h");
    expect(await decryptSourceUrl(sealed, "source-a", key)).toBe("mysql://u:p@h/db");
    expect(await decryptSourceUrl(sealed, "source-b", key)).toBeNull();
    expect(await decryptSourceUrl(sealed, "source-a", "x".repeat(32))).toBeNull();
    expect(await decryptSourceUrl("v1.garbage", "source-a", key)).toBeNull();
  });

  it("is redacted from failure messages, password included in its encoded and decoded forms", () => {
    const url = "mysql://user:p%40ss%2Fword@db.internal:3306";
    expect(redactUrl(`failed on ${url} with p@ss/word and p%40ss%2Fword`, url)).toBe(
      "failed on [REDACTED] with [REDACTED] and [REDACTED]",
    );
    const failure = describeFailure(new Error(`boom p@ss/word`), url);
    expect(failure.code).toBe("SOURCE_FAILED");
    expect(failure.message).not.toContain("p@ss");
  });

  it("classifies driver errors by code, never by echoing the URL", () => {
    expect(classifyMysqlError({ code: "ECONNREFUSED", message: "connect ECONNREFUSED" }).code).toBe(
      "SOURCE_UNREACHABLE",
    );
    expect(classifyMysqlError({ code: "PROTOCOL_CONNECTION_LOST" }).transient).toBe(true);
    expect(
      classifyMysqlError({ errno: 1236, sqlMessage: "Could not find first log file" }).code,
    ).toBe("SOURCE_POSITION_PURGED");
    expect(classifyMysqlError({ errno: 1045, code: "ER_ACCESS_DENIED_ERROR" }).transient).toBe(
      false,
    );
  });
});

describe("POST /api/sources table names and URLs", () => {
  const body = (kind: string, table: string, url = "") => ({
    name: "s",
    kind,
    ...(url ? { url } : { url_env: "OBSERVERS_SECRET_X" }),
    tables: [{ table, entity_type: "T" }],
  });
  const issues = (value: unknown) => {
    const result = SourceCreateSchema.safeParse(value);
    return result.success ? [] : result.error.issues.map((issue) => issue.path.join("."));
  };
  it("takes SQL Server's bracketed names, as docs/sqlserver.md writes them", () => {
    expect(issues(body("sqlserver", "[sales].[Order Lines]"))).toEqual([]);
    expect(issues(body("sqlserver", "dbo.orders"))).toEqual([]);
    expect(issues(body("sqlserver", "dbo.a.b"))).toEqual(["tables.0.table"]);
  });
  it("takes MySQL names with spaces, refuses backquotes and a third part", () => {
    expect(issues(body("mysql", "shop.order lines"))).toEqual([]);
    expect(issues(body("mysql", "shop.o`rders"))).toEqual(["tables.0.table"]);
    expect(issues(body("mysql", "a.b.c"))).toEqual(["tables.0.table"]);
  });
  it("refuses unknown options on a MySQL URL, naming them (test/unit/mysql-url.test.ts has the rest)", () => {
    const result = SourceCreateSchema.safeParse(
      body("mysql", "shop.orders", "mysql://u:p@h:3306/shop?ssl=true"),
    );
    expect(result.success).toBe(false);
    expect(result.error?.issues).toMatchObject([
      { path: ["url"], message: expect.stringContaining('unknown option "ssl"') },
    ]);
    expect(
      issues(body("mysql", "shop.orders", "mysql://u:p@h/shop?ssl-mode=verify-identity")),
    ).toEqual([]);
    expect(issues(body("mysql", "shop.orders", "mysql://u:p%3F@h:3306/shop"))).toEqual([]);
    expect(() => connectionOptions("mysql://u:p@h:3306?ssl-mode=preferred", noEnv)).toThrow(
      expect.objectContaining({ code: "SOURCE_URL_INVALID" }),
    );
    expect(connectionOptions("mysql://u:p%3F@h:3306/shop", noEnv)).toMatchObject({
      password: "p?",
      database: "shop",
    });
  });
  it("refuses a URL of another scheme for SQL Server, takes a connection string", () => {
    expect(issues(body("sqlserver", "dbo.orders", "mysql://u:p@h:3306"))).toEqual(["url"]);
    expect(issues(body("sqlserver", "dbo.orders", "mssql://u:p@h:1433/shop"))).toEqual([]);
    expect(
      issues(
        body("sqlserver", "dbo.orders", "Server=tcp:h,1433;Database=shop;User Id=u;Password=p"),
      ),
    ).toEqual([]);
  });
});
