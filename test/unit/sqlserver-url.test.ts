import { describe, expect, it } from "vitest";
import { splitTableName } from "../../adapters/drivers/sqlserver/catalog.ts";
import {
  classifySqlServerError,
  isAdoConnectionString,
  parseSqlServerUrl,
  resolveSqlServerUrl,
} from "../../adapters/drivers/sqlserver/index.ts";
import { SourceError } from "../../src/ports/source.ts";

const PASSWORD = "p@ss;w0rd=x";

describe("sqlserver URL", () => {
  it("parses mssql:// URLs (percent-decoded credentials, database, options)", () => {
    const parsed = parseSqlServerUrl(
      `mssql://app%5Freader:${encodeURIComponent(PASSWORD)}@db.example:14330/shop?encrypt=true&trustServerCertificate=false&connectTimeout=5000`,
    );
    expect(parsed.config).toEqual({
      server: "db.example",
      port: 14330,
      user: "app_reader",
      password: PASSWORD,
      database: "shop",
      options: { encrypt: true, trustServerCertificate: false, connectTimeout: 5000 },
    });
    expect(parsed.secrets).toContain(PASSWORD);
    expect(parseSqlServerUrl("sqlserver://u:p@h/db?instanceName=SQLEXPRESS").config).toMatchObject({
      server: "h",
      options: { instanceName: "SQLEXPRESS" },
    });
  });

  it("refuses what it would otherwise ignore, without the password in the message", () => {
    for (const url of [
      `mssql://u:${PASSWORD}@h/db?appname=x`,
      `mssql://u:${PASSWORD}@h/db?encrypt=maybe`,
      `postgres://u:${PASSWORD}@h/db`,
      `mssql://u:${PASSWORD}@h/db/extra`,
      "mssql://",
    ]) {
      let error: unknown;
      try {
        parseSqlServerUrl(url);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SourceError);
      expect((error as SourceError).code).toBe("SOURCE_URL_INVALID");
      expect((error as SourceError).message).not.toContain(PASSWORD);
    }
  });

  it("parses ADO.NET connection strings with mssql's parser", async () => {
    const ado = `Server=tcp:db.example,1434;Database=shop;User Id=reader;Password={${PASSWORD}};Encrypt=true;TrustServerCertificate=true`;
    expect(isAdoConnectionString(ado)).toBe(true);
    expect(isAdoConnectionString("mssql://u:p@h/db")).toBe(false);
    const parsed = await resolveSqlServerUrl(ado);
    expect(parsed.config).toMatchObject({
      server: "db.example",
      port: 1434,
      database: "shop",
      user: "reader",
      password: PASSWORD,
      options: { encrypt: true, trustServerCertificate: true },
    });
    expect(parsed.secrets).toEqual([ado, PASSWORD]);
    await expect(resolveSqlServerUrl("Database=shop;User Id=u")).rejects.toMatchObject({
      code: "SOURCE_URL_INVALID",
    });
  });

  it("splits schema.table, bracketed or not", () => {
    expect(splitTableName("dbo.orders")).toEqual({ schema: "dbo", name: "orders" });
    expect(splitTableName("[sales].[Order Lines]")).toEqual({
      schema: "sales",
      name: "Order Lines",
    });
    expect(splitTableName("[a]]b].[c.d]")).toEqual({ schema: "a]b", name: "c.d" });
  });
});

describe("sqlserver driver errors", () => {
  const url = `mssql://reader:${encodeURIComponent(PASSWORD)}@db.example/shop`;
  const secrets = [url, PASSWORD];
  // mssql ConnectionError / RequestError shapes (mssql lib/error: code, number, originalError).
  const cases: [unknown, "connect" | "query", string, boolean][] = [
    [
      { name: "ConnectionError", code: "ELOGIN", message: "Login failed for user 'reader'." },
      "connect",
      "SOURCE_AUTH_FAILED",
      false,
    ],
    [
      {
        name: "ConnectionError",
        code: "ELOGIN",
        message: 'Cannot open database "shop" requested by the login. The login failed.',
      },
      "connect",
      "SOURCE_AUTH_FAILED",
      false,
    ],
    [
      {
        name: "ConnectionError",
        code: "ESOCKET",
        message: "Failed to connect to db.example:1433 - connect ECONNREFUSED",
      },
      "connect",
      "SOURCE_UNREACHABLE",
      true,
    ],
    [
      {
        name: "ConnectionError",
        code: "ETIMEOUT",
        message: "Failed to connect to db.example:1433 in 15000ms",
      },
      "connect",
      "SOURCE_UNREACHABLE",
      true,
    ],
    [
      {
        name: "ConnectionError",
        code: "EINSTLOOKUP",
        message: "Failed to get response from SQL Server Browser",
      },
      "connect",
      "SOURCE_UNREACHABLE",
      true,
    ],
    [
      { name: "ConnectionError", code: "ECONNCLOSED", message: "Connection is closed." },
      "query",
      "SOURCE_CONNECTION_LOST",
      true,
    ],
    [
      {
        name: "RequestError",
        code: "ETIMEOUT",
        message: "Timeout: Request failed to complete in 15000ms",
      },
      "query",
      "SOURCE_FAILED",
      true,
    ],
    [
      {
        name: "RequestError",
        code: "EREQUEST",
        number: 229,
        message: "The SELECT permission was denied on the object",
      },
      "query",
      "SOURCE_PRIVILEGES",
      false,
    ],
    [
      {
        name: "RequestError",
        code: "EREQUEST",
        originalError: { number: 313, message: "An insufficient number of arguments" },
        message: "An insufficient number of arguments",
      },
      "query",
      "SOURCE_POSITION_PURGED",
      false,
    ],
    [
      {
        name: "RequestError",
        code: "EREQUEST",
        number: 50000,
        message: `boom ${PASSWORD} in ${url}`,
      },
      "query",
      "SOURCE_FAILED",
      true,
    ],
  ];
  it.each(cases)("%o (%s)", (error, phase, code, transient) => {
    const failure = classifySqlServerError(error, secrets, phase);
    expect([failure.code, failure.transient]).toEqual([code, transient]);
    expect(failure.message).not.toContain(PASSWORD);
    expect(failure.message).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe("sqlserver connection through mssql", () => {
  it("a refused connection is SOURCE_UNREACHABLE (transient), without the password", async () => {
    const { createServer } = await import("node:net");
    // A port that was free a moment ago: nothing listens on it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { connectMssql } = await import("../../adapters/drivers/sqlserver/index.ts");
    const url = `mssql://reader:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/shop?encrypt=false&connectTimeout=5000`;
    const error = await connectMssql(url).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SourceError);
    expect([(error as SourceError).code, (error as SourceError).transient]).toEqual([
      "SOURCE_UNREACHABLE",
      true,
    ]);
    expect((error as SourceError).message).not.toContain(PASSWORD);
    expect((error as SourceError).message).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe("sqlserver driver loading", () => {
  it("loads mssql only through a dynamic import (a server without sqlserver sources never loads it)", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const dir = join(import.meta.dirname, "../../adapters/drivers/sqlserver");
    const staticImports = readdirSync(dir)
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) =>
        readFileSync(join(dir, file), "utf8")
          .split("\n")
          .filter((line) => /from "(mssql|tedious)"/.test(line) && !/^import type /.test(line))
          .map((line) => `${file}: ${line}`),
      );
    expect(staticImports).toEqual([]);
    expect(readFileSync(join(dir, "connection.ts"), "utf8")).toContain('await import("mssql")');
  });
});
