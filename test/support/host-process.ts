/**
 * A host application that uses the plugin as a team would: its own Hono app with its own routes,
 * the observers mounted with `app.route(prefix, observers.api)` (`createObservers` from
 * adapters/hosts/{bun,deno}), served by its own `Bun.serve({ fetch, websocket })` or
 * `Deno.serve`. The program is written to a temporary directory (with the repository's
 * node_modules linked, as an installed package would resolve `hono` and `postgres`) and run with
 * bun or deno as a child process.
 *
 * Its routes: `GET /` (text), `GET /api/health` (JSON), `POST /api/orders` (inserts a row with the
 * host's own postgres.js pool) and `POST /host/stop` (calls `observers.stop()`, then queries the
 * host's pool to show it is still open).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onFreePort } from "./ports.ts";

const ROOT = join(import.meta.dirname, "../..");

/** How the host is built. */
export interface HostOptions {
  runtime: "bun" | "deno";
  /** Where the observers are mounted: "" (at `/`) or e.g. "/observers". */
  prefix: string;
  /** `sql`: pass the host's postgres.js instance; `url`: pass `databaseUrl`. */
  database: "sql" | "url";
  /** Register the host's routes before mounting the observers (default true), or after. */
  routesFirst?: boolean;
  databaseUrl: string;
  /** The factory's environment (the process's): OBSERVERS_* settings. */
  env: Record<string, string>;
}

/** A running host process. */
export interface HostProcess {
  /** http://127.0.0.1:<port>, the host's own server. */
  url: string;
  /** `url` + prefix: where the observers' API is. */
  observersUrl: string;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGKILL and remove the program's directory. */
  close(): Promise<void>;
}

function program(options: HostOptions): string {
  const entry = join(ROOT, `adapters/hosts/${options.runtime}/index.ts`);
  const routes = `
app.get("/", (c) => c.text("host home"));
app.get("/api/health", (c) => c.json({ host: "ok" }));
app.post("/api/orders", async (c) => {
  const [row] = await sql\`INSERT INTO orders (status) VALUES ('from-host') RETURNING id::text\`;
  return c.json({ id: row.id }, 201);
});
app.post("/host/stop", async (c) => {
  await observers.stop();
  const [row] = await sql\`SELECT count(*)::int AS orders FROM orders\`;
  return c.json({ stopped: true, orders: row.orders });
});`;
  const mount = `app.route(${JSON.stringify(options.prefix || "/")}, observers.api);`;
  const serve =
    options.runtime === "bun"
      ? `Bun.serve({ hostname: "127.0.0.1", port, fetch: app.fetch, websocket: observers.websocket });`
      : `Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, app.fetch);`;
  const env = options.runtime === "bun" ? "Bun.env" : "Deno.env.toObject()";
  return `
import { Hono } from "hono";
import postgres from "postgres";
import { createObservers } from ${JSON.stringify(entry)};

const env = ${env};
const port = Number(env.HOST_PORT);
// The host's own pool: its routes use it, and in "sql" mode the observers do too.
const sql = postgres(env.HOST_DATABASE_URL, { onnotice: () => {} });
const observers = ${
    options.database === "sql"
      ? "createObservers({ sql })"
      : "createObservers({ databaseUrl: env.HOST_DATABASE_URL })"
  };
const app = new Hono();
${options.routesFirst === false ? `${mount}\n${routes}` : `${routes}\n${mount}`}
${serve}
await observers.start();
console.log("HOST READY");
`;
}

/**
 * Writes the host program, runs it, and waits until it says it is ready. A port is free when
 * picked, not when the child binds it: another process may take it in between, and then the
 * host starts again on another one.
 */
export async function startHost(options: HostOptions): Promise<HostProcess> {
  return onFreePort((port) => startHostOn(port, options));
}

async function startHostOn(port: number, options: HostOptions): Promise<HostProcess> {
  const dir = await mkdtemp(join(tmpdir(), `observers-host-${options.runtime}-`));
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  await writeFile(join(dir, "host.ts"), program(options));
  const bin = join(ROOT, "node_modules/.bin", options.runtime);
  const args = options.runtime === "bun" ? ["host.ts"] : ["run", "-A", "host.ts"];
  const child = spawn(bin, args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST_PORT: String(port),
      HOST_DATABASE_URL: options.databaseUrl,
      LOG_LEVEL: "warn",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  const collect = (chunk: Buffer) => {
    printed += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!printed.includes("HOST READY")) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`the host exited with ${child.exitCode} before it was ready:\n${printed}`);
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the host was not ready within 30 s:\n${printed}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const url = `http://127.0.0.1:${port}`;
  return { url, observersUrl: `${url}${options.prefix}`, child, output: () => printed, close };
}
