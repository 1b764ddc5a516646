/**
 * A PostgreSQL instance a test owns: created with initdb in a temporary directory, on a free port,
 * so the test can crash it (`pg_ctl stop -m immediate`) and start it again without touching the
 * shared server. The binaries come from /usr/lib/postgresql/<newest>/bin. Run as root (as in CI
 * containers), the server runs as the `postgres` system user, since initdb refuses root.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { freePort } from "./ports.ts";

const run = promisify(execFile);

function binDir(): string {
  const versions = readdirSync("/usr/lib/postgresql")
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) throw new Error("no PostgreSQL under /usr/lib/postgresql");
  return `/usr/lib/postgresql/${newest}/bin`;
}

export interface OwnPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth). */
  url: string;
  dataDir: string;
  /** Starts the server (after `create` it is already running) and waits until it accepts. */
  start(): Promise<void>;
  /** A crash: every server process is killed at once, nothing is flushed or checkpointed. */
  crash(): Promise<void>;
  /** Stops the server if it runs and deletes its directory. */
  destroy(): Promise<void>;
  /** The pid of a background process (`backend_type` in pg_stat_activity, e.g. "walwriter"). */
  pidOf(backendType: string): Promise<number>;
}

/**
 * Creates and starts an instance. `settings` become `-c name=value` options of the server (a test
 * that must keep relaxed commits in memory until it crashes the server slows the WAL writer and
 * the checkpointer down, for instance).
 */
export async function createOwnPostgres(
  settings: Record<string, string> = {},
): Promise<OwnPostgres> {
  const bin = binDir();
  const root = mkdtempSync(join(tmpdir(), "own-pg-"));
  const dataDir = join(root, "data");
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(root, 0o755);
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(root, Number(stdout.trim()), Number(gid.trim()));
  }
  const exec = (tool: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", `${bin}/${tool}`, ...args])
      : run(`${bin}/${tool}`, args);
  await exec("initdb", [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
  ]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${root}`,
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(" ");
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const logFile = join(root, "server.log");

  async function start(): Promise<void> {
    await exec("pg_ctl", ["start", "-w", "-t", "60", "-D", dataDir, "-l", logFile, "-o", options]);
  }

  async function query<T>(text: string): Promise<T[]> {
    const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      return (await sql.unsafe(text)) as unknown as T[];
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  await start();
  return {
    url,
    dataDir,
    start,
    async crash() {
      await exec("pg_ctl", ["stop", "-w", "-t", "60", "-D", dataDir, "-m", "immediate"]);
    },
    async destroy() {
      await exec("pg_ctl", ["stop", "-w", "-t", "60", "-D", dataDir, "-m", "immediate"]).catch(
        () => {},
      );
      rmSync(root, { recursive: true, force: true });
    },
    async pidOf(backendType) {
      const quoted = `'${backendType.replaceAll("'", "''")}'`;
      const rows = await query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE backend_type = ${quoted}`,
      );
      const pid = rows[0]?.pid;
      if (pid === undefined) throw new Error(`no ${backendType} process`);
      return pid;
    },
  };
}
