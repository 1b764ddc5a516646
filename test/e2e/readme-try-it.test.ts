/**
 * The README's "Try it" and "Why didn't it fire?" work as written: their `sh` blocks, read from
 * README.md, run in order as a newcomer runs them (the server and the receiver as long-running
 * processes, the rest with `bash -euo pipefail`, each after the `export OBSERVERS_TOKEN=...` line
 * the server printed). The only changes are the ones a test on a shared machine needs: free ports
 * for 8080, 5433 and 9000 and a temporary data directory. Each is named and must apply, and no
 * default port may be left over, so a README edit that moves them fails here instead of this test
 * quietly running something else.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.ts";
import { runShell, type ShellProcess, startShell } from "../support/shell-process.ts";

const ROOT = join(import.meta.dirname, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The text under `## heading`, up to the next `## `. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const body = README.slice(start + heading.length + 5);
  const end = body.search(/^## /m);
  return end < 0 ? body : body.slice(0, end);
}

/** The fenced `sh` blocks of a section, in order. */
function shBlocks(text: string): string[] {
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

/** The commands of a block: what a person pastes at once, separated by blank lines. */
function commands(block: string): string[] {
  return block
    .split(/\n\s*\n/)
    .map((command) => command.trim())
    .filter((command) => command !== "");
}

/** One change a test needs, found by its exact text; `applied` counts where it was. */
interface Substitution {
  name: string;
  from: string;
  to: string;
  applied: number;
}

function substitute(text: string, substitutions: Substitution[]): string {
  let result = text;
  for (const substitution of substitutions) {
    const parts = result.split(substitution.from);
    substitution.applied += parts.length - 1;
    result = parts.join(substitution.to);
  }
  return result;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (connecting prints nothing). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The fields of a `/api/observers/logs` entry this test reads. */
interface LogEntry {
  observer_id?: string;
  delivery_id?: string;
  status?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it gives a value. Fails at once when one of `watched` exits (it never should
 * here), after `timeoutMs` otherwise, either way with what each of them printed.
 */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  watched: Record<string, ShellProcess>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const gone = Object.entries(watched).find(([, child]) => child.exited());
    if (gone || Date.now() > deadline) {
      const outputs = Object.entries(watched).map(([name, child]) => `${name}:\n${child.output()}`);
      const why = gone ? `the ${gone[0]} exited` : `not within ${timeoutMs} ms`;
      throw new Error(`waiting for ${what}: ${why}\n${outputs.join("\n")}`);
    }
    await sleep(250);
  }
}

/**
 * A newcomer's terminal: only the basics of the machine's environment, so nothing of this test's
 * own (DATABASE_URL, PG*, OBSERVERS_*, PORT, NODE_ENV, ...) changes what the commands do.
 */
function terminalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TERM", "SHELL"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

const dataDir = mkdtempSync(join(tmpdir(), "fraiseql-observers-readme-"));
const running: ShellProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe("the README's Try it", () => {
  it("runs as written: a tracked table's INSERT reaches the receiver, the log and the explanation", {
    timeout: 600_000,
  }, async () => {
    // What the README's commands call besides the project's own scripts (docs/testing.md).
    const tools = await runShell("for tool in psql curl npm npx; do command -v $tool; done", {
      cwd: ROOT,
      env: terminalEnv(),
    });
    expect(tools.code, `psql, curl, npm and npx on PATH:\n${tools.stdout}`).toBe(0);

    const tryIt = shBlocks(section("Try it"));
    const whyNot = shBlocks(section("Why didn't it fire?"));
    expect(tryIt, "Try it: server, receiver, setup, change").toHaveLength(4);
    expect(whyNot, "Why didn't it fire?: one block").toHaveLength(1);
    const [serverBlock = "", receiverBlock = "", setupBlock = "", changeBlock = ""] = tryIt;

    const httpPort = await freePort();
    const embeddedPort = await freePort();
    const receiverPort = await freePort();
    const substitutions: Substitution[] = [
      { name: "API port 8080", from: "localhost:8080", to: `localhost:${httpPort}`, applied: 0 },
      {
        name: "embedded PostgreSQL port 5433",
        from: "@127.0.0.1:5433/",
        to: `@127.0.0.1:${embeddedPort}/`,
        applied: 0,
      },
      { name: "receiver's port 9000", from: "port: 9000", to: `port: ${receiverPort}`, applied: 0 },
      {
        name: "webhook URL's port 9000",
        from: "http://127.0.0.1:9000/",
        to: `http://127.0.0.1:${receiverPort}/`,
        applied: 0,
      },
    ];
    const receiverScript = substitute(receiverBlock, substitutions);
    const steps = [
      ...commands(setupBlock),
      ...commands(changeBlock),
      ...commands(whyNot[0] ?? ""),
    ].map((command) => substitute(command, substitutions));
    for (const substitution of substitutions) {
      expect(substitution.applied, `substitution "${substitution.name}" applies`).toBeGreaterThan(
        0,
      );
    }
    for (const script of [serverBlock, receiverScript, ...steps]) {
      expect(script, "no default port left over").not.toMatch(/\b(?:8080|5433|9000)\b/);
    }

    // 1. The server, from the repository root, as written; the environment sets what the test
    // needs (the README's defaults are those variables' defaults).
    expect(serverBlock).toMatch(/\bnpm run server$/m);
    const server = startShell(serverBlock, {
      cwd: ROOT,
      env: {
        ...terminalEnv(),
        PORT: String(httpPort),
        OBSERVERS_EMBEDDED_PORT: String(embeddedPort),
        OBSERVERS_DATA_DIR: dataDir,
      },
    });
    running.push(server);
    const exportLine = await waitFor(
      "the export OBSERVERS_TOKEN=... line",
      () => /^\s*(export OBSERVERS_TOKEN=obs_[A-Za-z0-9_-]{20,})\s*$/m.exec(server.output())?.[1],
      { server },
      180_000,
    );
    await waitFor(
      "the server to listen",
      () => (server.output().includes("listening on") ? true : undefined),
      { server },
      180_000,
    );
    // The environment's substitutions applied: the server says where it keeps data and listens.
    expect(server.output(), "OBSERVERS_DATA_DIR applies").toContain(dataDir);
    expect(server.output(), "OBSERVERS_EMBEDDED_PORT applies").toContain(
      `127.0.0.1:${embeddedPort}/postgres`,
    );
    expect(server.output(), "PORT applies").toMatch(new RegExp(`listening on \\S+:${httpPort}\\b`));

    // 2. The receiver, printing every request.
    expect(receiverScript).toMatch(/^npx bun -e /);
    const receiver = startShell(receiverScript, { cwd: ROOT, env: terminalEnv() });
    running.push(receiver);
    await waitFor(
      "the receiver to listen",
      async () => ((await accepts(receiverPort)) ? true : undefined),
      { server, receiver },
    );

    // 3, 4 and "Why didn't it fire?": each command in a shell that has evaluated the export line.
    const run = async (script: string) => {
      const result = await runShell(`${exportLine}\n${script}`, {
        cwd: ROOT,
        // The CLI's default base URL is the README's localhost:8080; this server is elsewhere.
        env: { ...terminalEnv(), OBSERVERS_URL: `http://localhost:${httpPort}` },
        timeoutMs: 120_000,
      });
      const context = `${script}\nstdout: ${result.stdout}\nstderr: ${result.stderr}\nserver:\n${server.output()}`;
      expect(result.code, context).toBe(0);
      // psql reading a script exits 0 after a failed statement: an ERROR is a failure too.
      expect(result.stderr, context).not.toMatch(/\bERROR\b/);
      const json = <T>(): T => {
        try {
          return JSON.parse(result.stdout) as T;
        } catch {
          throw new Error(`not JSON: ${context}`);
        }
      };
      return { ...result, context, json };
    };
    const [track, create, insert, logs, explain] = steps;
    expect(steps, "setup: table + observer; change: insert + log; why: explain").toHaveLength(5);
    expect(track).toContain("core.fn_track_table('public.orders', 'Order')");
    expect(create).toMatch(/^curl -X POST .*\/api\/observers /);
    expect(insert).toContain("INSERT INTO orders");
    expect(logs).toMatch(/\/api\/observers\/logs$/);
    expect(explain).toBe("npm run -s cli -- debug-event --latest --entity-type Order");

    await run(track ?? "");
    const created = await run(create ?? "");
    const observer = created.json<{ id?: string; warnings?: unknown }>();
    expect(observer.warnings, created.context).toEqual([]);
    expect(observer.id, created.context).toEqual(expect.any(String));

    await run(insert ?? "");
    // "the receiver prints the webhook": `<webhook-id> <body>`.
    const printed = await waitFor(
      "the receiver to print the webhook",
      () => /^(\S+) (\{.*\})$/m.exec(receiver.output()) ?? undefined,
      { server, receiver },
    );
    expect(printed[1], "the webhook-id header").not.toBe("null");
    const body = JSON.parse(printed[2] ?? "") as Record<string, unknown>;
    expect(body).toMatchObject({
      entity_type: "Order",
      event_type: "INSERT",
      observer: expect.objectContaining({ name: "big-order" }),
      after: { id: 1, status: "new", total: 250 },
    });

    // "then the log shows what happened": the delivery's success is recorded just after the
    // receiver answers, so a newcomer who looks a moment too soon looks again.
    const success = await waitFor(
      "a success in /api/observers/logs",
      async () => {
        const answer = await run(logs ?? "");
        const entries = answer.json<{ data?: LogEntry[] }>().data ?? [];
        const found = entries.find(
          (entry) => entry.observer_id === observer.id && entry.status === "success",
        );
        if (!found) await sleep(500);
        return found;
      },
      { server, receiver },
    );
    // The log's delivery is the one the receiver printed.
    expect(success.delivery_id).toBe(printed[1]);

    const explained = await run(explain ?? "");
    // "It lists every observer, whether it fired": the one observer, fired, by name and id.
    expect(explained.stdout, explained.context).toMatch(
      new RegExp(`^fired\\s+big-order \\(${observer.id}\\)$`, "m"),
    );
    expect(explained.stdout, explained.context).toMatch(/^change \S+: INSERT Order 1 at /m);
  });
});
