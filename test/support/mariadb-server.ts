/**
 * A real MariaDB of the test's own, on a free port with a temporary data directory (owned by the
 * `mysql` user, as mariadbd wants), that the test can kill, restart (with other settings) and
 * query as root over its socket. By default the binlog is on in ROW format with FULL row images;
 * `args` replace those for misconfiguration tests. With `tls`, it offers TLS with a throwaway CA
 * of its own (test/support/tls-certs.ts; its certificate names `localhost` and 127.0.0.1), and with
 * `tls: "required"` refuses connections without it (`--require-secure-transport`; its socket,
 * which the test's root queries use, stays open). The binaries
 * are `mariadb-install-db` and `mariadbd` on PATH (/usr/bin, /usr/sbin here); missing, the test
 * fails loudly.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { onFreePort } from "./ports.ts";
import { makeTestCertificates } from "./tls-certs.ts";

/** The binlog settings a source needs. */
export const BINLOG_ROW = ["--log-bin=bin", "--binlog-format=ROW", "--server-id=1"];

/** A running (or stopped, restartable) MariaDB. */
export interface MariaDbServer {
  port: number;
  /** The PEM of the CA that signed its certificate, when started with `tls`. */
  caPem: string | null;
  /** Creates user `name` (any host) with `password` and `grants` (e.g. `REPLICATION SLAVE`) on *.*, and SELECT on everything; returns its URL. */
  createUser(name: string, password: string, grants?: string): Promise<string>;
  /** Runs SQL as root (several statements allowed) and returns the last result's rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Everything it printed. */
  output(): string;
  kill9(): Promise<void>;
  /** Starts it again on the same port and data, with `args` (default: as it was started). */
  restart(args?: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

const INSTALL_DB = process.env.MARIADB_INSTALL_DB_BIN ?? "mariadb-install-db";
const MARIADBD = process.env.MARIADBD_BIN ?? "mariadbd";

/** Options of `startMariaDb`. */
export interface MariaDbOptions {
  /** Offer TLS (`"offered"`), or accept nothing else (`"required"`). Default: no TLS. */
  tls?: "offered" | "required";
  /** The names its certificate holds (default `localhost` and 127.0.0.1). */
  tlsNames?: readonly string[];
}

/** Installs a data directory and starts MariaDB with `args` (default `BINLOG_ROW`). */
export async function startMariaDb(
  args: readonly string[] = BINLOG_ROW,
  options: MariaDbOptions = {},
): Promise<MariaDbServer> {
  let port = 0;
  const parent = mkdtempSync(join(tmpdir(), "observers-mariadb-"));
  chmodSync(parent, 0o755);
  let tlsArgs: string[] = [];
  let caPem: string | null = null;
  if (options.tls) {
    const certs = makeTestCertificates(parent, "mariadb", options.tlsNames);
    caPem = certs.caPem;
    tlsArgs = [
      `--ssl-ca=${certs.caFile}`,
      `--ssl-cert=${certs.certFile}`,
      `--ssl-key=${certs.keyFile}`,
      ...(options.tls === "required" ? ["--require-secure-transport=ON"] : []),
    ];
  }
  execFileSync("chown", ["-R", "mysql:mysql", parent]);
  const dataDir = join(parent, "data");
  // A temporary directory of its own: installs running at once share none of their files.
  const tmp = join(parent, "tmp");
  mkdirSync(tmp);
  execFileSync("chown", ["mysql:mysql", tmp]);
  const socket = join(parent, "mariadb.sock");
  try {
    execFileSync(
      INSTALL_DB,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        "--user=mysql",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        `--tmpdir=${tmp}`,
      ],
      { stdio: "pipe" },
    );
  } catch (error) {
    rmSync(parent, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed (${INSTALL_DB}): ${String(error)}`);
  }
  let child: ChildProcess | null = null;
  let printed = "";
  let current = [...args];
  let pool: mysql.Pool | null = null;

  async function launch(): Promise<void> {
    const started = spawn(
      MARIADBD,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        "--user=mysql",
        `--port=${port}`,
        `--socket=${socket}`,
        `--tmpdir=${tmp}`,
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=8M",
        "--performance-schema=OFF",
        ...tlsArgs,
        ...current,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = started;
    started.stdout?.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    started.stderr?.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    started.once("error", (error) => {
      printed += `\nspawn failed (${MARIADBD}): ${error.message}`;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (started.exitCode !== null) {
        throw new Error(`mariadbd exited with ${started.exitCode}:\n${printed}`);
      }
      try {
        const probe = await mysql.createConnection({ socketPath: socket, user: "root" });
        await probe.end();
        return;
      } catch {
        if (Date.now() > deadline) {
          started.kill("SIGKILL");
          throw new Error(`mariadbd was not ready within 30 s:\n${printed}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async function kill9(): Promise<void> {
    await pool?.end().catch(() => undefined);
    pool = null;
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGKILL");
    await exited;
  }

  await onFreePort(async (picked) => {
    port = picked;
    printed = "";
    await launch();
  });
  const server: MariaDbServer = {
    port,
    caPem,
    async createUser(name, password, grants = "REPLICATION SLAVE, BINLOG MONITOR") {
      await server.query(
        `CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'; GRANT SELECT ON *.* TO '${name}'@'%';` +
          (grants ? ` GRANT ${grants} ON *.* TO '${name}'@'%';` : ""),
      );
      return `mysql://${encodeURIComponent(name)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    },
    async query<Row>(sql: string, params: unknown[] = []) {
      pool ??= mysql.createPool({
        socketPath: socket,
        user: "root",
        multipleStatements: true,
        connectionLimit: 2,
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
      });
      const [result] = await pool.query(sql, params);
      if (!Array.isArray(result)) return [];
      const last = result.at(-1);
      // Several statements: an array of results; take the last one that has rows.
      if (Array.isArray(last) || (result.length > 0 && Array.isArray(result[0]))) {
        const sets = (result as unknown[]).filter(Array.isArray);
        return (sets.at(-1) ?? []) as Row[];
      }
      return result as Row[];
    },
    output: () => printed,
    kill9,
    async restart(nextArgs?: readonly string[]) {
      await kill9();
      if (nextArgs) current = [...nextArgs];
      await launch();
    },
    async close() {
      await kill9();
      rmSync(parent, { recursive: true, force: true });
    },
  };
  return server;
}
