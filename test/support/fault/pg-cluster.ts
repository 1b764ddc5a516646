/**
 * A PostgreSQL instance of the caller's own: `initdb` into a temporary directory, started with
 * `pg_ctl` on a free loopback port, so a test can crash it (`pg_ctl stop -m immediate`: no
 * checkpoint, WAL replayed at the next start, exactly what a power cut leaves behind) and start it
 * again without disturbing the shared server other tests use.
 *
 * The binaries come from `PG_BIN` or the newest `/usr/lib/postgresql/<version>/bin` (Debian's
 * layout). PostgreSQL refuses to run as root: when the caller is root, every command runs as the
 * `postgres` user through `runuser`, and the directory is handed to that user.
 */
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "../ports.ts";

/** A running (or crashed) instance and the operations a fault test needs on it. */
export interface PgCluster {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  url(database: string): string;
  /** Immediate shutdown: every backend killed, nothing flushed that was not already. */
  crash(): Promise<void>;
  /** Starts it again (crash recovery replays the WAL) and waits until it accepts connections. */
  start(): Promise<void>;
  /** The last lines of its server log, for failure messages. */
  logTail(lines?: number): string;
  /** Stops it (immediately) and removes its directory. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Settings the fault suite relies on; everything else is initdb's default. */
const SERVER_SETTINGS = {
  listen_addresses: "127.0.0.1",
  // Room for several servers (each a pool of 10 and a listener), the producer and the checks.
  max_connections: "200",
  shared_buffers: "64MB",
  log_min_messages: "warning",
  log_line_prefix: "%m [%p] %a ",
};

/** The directory holding initdb and pg_ctl: PG_BIN, else the newest Debian-style install. */
export function postgresBinDir(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) return fromEnv;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, "bin", "pg_ctl")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (!newest) {
    throw new Error(
      "no PostgreSQL server binaries found: install the postgresql package (initdb and pg_ctl under /usr/lib/postgresql/<version>/bin) or set PG_BIN to their directory",
    );
  }
  return join(root, newest, "bin");
}

/** The uid and gid of the `postgres` user, when this process runs as root (PostgreSQL refuses root). */
function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => {
    const out = spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
    const value = Number(out.stdout.trim());
    if (out.status !== 0 || !Number.isInteger(value)) {
      throw new Error(
        "running as root, and PostgreSQL refuses root: a `postgres` user is needed to run initdb and pg_ctl",
      );
    }
    return value;
  };
  return { uid: id("-u"), gid: id("-g") };
}

/** Runs a PostgreSQL binary (as `postgres` when we are root); rejects with its output on failure. */
function run(binary: string, args: readonly string[], asPostgres: boolean): Promise<void> {
  const [command, argv] = asPostgres
    ? ["runuser", ["-u", "postgres", "--", binary, ...args]]
    : [binary, [...args]];
  return new Promise((resolve, reject) => {
    // stdout and stderr both piped: pg_ctl's own messages go to the caller's error only.
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${binary} ${args.join(" ")} exited with ${code}: ${output.trim()}`)),
    );
  });
}

/** Creates, starts and returns a fresh instance (trust authentication, loopback only). */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBinDir();
  const owner = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), "fraiseql-fault-pg-"));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = await freePort();
  const options = Object.entries({
    ...SERVER_SETTINGS,
    port: String(port),
    // The socket in our directory: never collides with the system server's /var/run/postgresql.
    unix_socket_directories: dir,
  })
    // pg_ctl hands `-o` to a shell: values are single-quoted (none of ours holds a quote).
    .map(([name, value]) => `-c ${name}='${value}'`)
    .join(" ");
  const pgCtl = (...args: string[]) => run(join(bin, "pg_ctl"), args, owner !== null);
  let destroyed = false;

  await run(
    join(bin, "initdb"),
    ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
    owner !== null,
  );
  const start = async () => {
    await pgCtl("-D", data, "-l", logFile, "-o", options, "-w", "-t", "60", "start").catch(
      (error: Error) => {
        throw new Error(`${error.message}\n${tail(logFile, 20)}`);
      },
    );
    // `-w` waits for the postmaster; make sure a real connection gets through before going on.
    const probe = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, {
      max: 1,
      connect_timeout: 10,
      onnotice: () => {},
    });
    try {
      await probe`SELECT 1`;
    } finally {
      await probe.end({ timeout: 1 });
    }
  };
  await start();

  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    crash: () => pgCtl("-D", data, "-m", "immediate", "-w", "stop"),
    start,
    logTail: (lines = 30) => tail(logFile, lines),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      // Already stopped (crashed and not restarted) is fine.
      await pgCtl("-D", data, "-m", "immediate", "-w", "stop").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The last `lines` lines of a file, or a note that there is none. */
function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no server log)";
  }
}
