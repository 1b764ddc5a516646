/**
 * The `fraiseql-observers` CLI as a real process (node bin/fraiseql-observers.ts) against the Bun
 * server as a process over a real PostgreSQL: status, debug-event of a real change, the dead-letter
 * commands on real dead letters, validate-config, apply/export (observers as code), tail and
 * listen on the live stream, metrics; exit codes asserted (docs/cli.md).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import {
  type AddressInfo,
  createServer,
  type Server,
  type Socket,
  connect as tcpConnect,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { runCli, startCli } from "../support/cli-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { freePort, NOTHING_LISTENS } from "../support/ports.ts";
import { type Receiver, startReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let db: TestDatabase;
let server: ServerProcess;
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase("e2e_cli");
  await createOrdersTable(db.sql);
  receiver = await startReceiver((request) =>
    request.path.startsWith("/fail") ? { status: 500, body: "down" } : { status: 204 },
  );
  server = await startServer({ DATABASE_URL: db.url, OBSERVERS_POLL_INTERVAL_MS: "100" });
  dir = mkdtempSync(join(tmpdir(), "cli-e2e-"));
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]) {
  return runCli(args, { env: { OBSERVERS_URL: server.url, OBSERVERS_TOKEN: server.token } });
}

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : stringify(content));
  return path;
}

async function insertOrder(status: string): Promise<string> {
  const [row] = await db.sql<
    { id: string }[]
  >`INSERT INTO public.orders (status) VALUES (${status}) RETURNING id::text`;
  const id = row?.id ?? "";
  return eventually(async () => {
    const [change] = await db.sql<{ id: string }[]>`
      SELECT id::text FROM core.tb_entity_change_log WHERE object_type = 'Order' AND object_id = ${id}`;
    return change?.id;
  }, `the change of order ${id}`);
}

const secret = `whsec_${randomBytes(24).toString("base64")}`;

describe("status and errors", () => {
  it("status shows the running runtime, lag and counts (text and json)", async () => {
    const text = await cli("status");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("runtime:       running");
    expect(text.stdout).toMatch(/lag: +\d+ pending changes/);
    const json = await cli("status", "--format", "json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ healthy: true, runtime: { running: true } });
  });

  it("status counts open and disabled destinations", async () => {
    await db.sql`INSERT INTO core.tb_observer_destination (destination, state, disabled_at, disabled_reason)
      VALUES ('webhook:http://status-open.invalid', 'open', NULL, NULL),
        ('webhook:http://status-disabled.invalid', 'open', now(), 'failing for 5 days')`;
    try {
      const text = await cli("status");
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain("destinations:  1 open, 1 disabled (their deliveries wait");
      const json = await cli("status", "--format", "json");
      expect(JSON.parse(json.stdout).destinations).toEqual({ open: 1, disabled: 1 });
    } finally {
      await db.sql`DELETE FROM core.tb_observer_destination WHERE destination LIKE '%status-%.invalid'`;
    }
  });

  it("exit 3 when the server is unreachable or refuses the token, which is never printed", async () => {
    const port = await freePort();
    const down = await runCli(["status", "--base-url", `http://${NOTHING_LISTENS}:${port}`]);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain(`cannot reach the server at http://${NOTHING_LISTENS}:${port}/`);
    const token = "wrong-token-4242424242424242";
    const refused = await runCli([
      "dlq",
      "stats",
      "--base-url",
      server.url,
      "--admin-token",
      token,
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("HTTP 401");
    expect(refused.stderr + refused.stdout).not.toContain(token);
    const none = await runCli(["dlq", "stats", "--base-url", server.url]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain("pass --admin-token or set OBSERVERS_TOKEN");
  });

  it("exit 2 for usage errors, naming what is wrong", async () => {
    expect(await cli("frobnicate")).toMatchObject({ code: 2 });
    expect((await cli("dlq", "show")).stderr).toContain("dlq show needs a dead letter's id");
    const option = await cli("status", "--frob");
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--frob'");
    expect((await cli("status", "--format", "xml")).stderr).toContain(
      "--format: expected text or json",
    );
    expect((await cli("validate-config", join(dir, "missing.yaml"))).code).toBe(2);
    const credentials = await cli("status", "--base-url", "http://admin:hunter2@127.0.0.1:1");
    expect(credentials.code).toBe(2);
    expect(credentials.stderr).toContain("--base-url: must not hold credentials");
    expect(credentials.stderr).not.toContain("hunter2");
    // fetch cannot send such a URL: every forward would fail, the credentials printed each time.
    const forward = await cli("listen", "--forward-to", "http://me:hunter2@127.0.0.1:3000/hooks");
    expect(forward.code).toBe(2);
    expect(forward.stderr).toContain("--forward-to: must not hold credentials");
    expect(forward.stderr).not.toContain("hunter2");
    const help = await cli("dlq", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("dlq retry-all");
  });

  it("a directory to read or an output that cannot be written is a usage error naming it, not INTERNAL", async () => {
    for (const command of ["validate-config", "apply"]) {
      const directory = await cli(command, dir);
      expect(directory.code).toBe(2);
      expect(directory.stderr).toContain(`cannot read ${dir}: it is a directory`);
      expect(directory.stderr).not.toContain("INTERNAL");
    }
    const target = join(dir, "no-such-dir", "observers.yaml");
    const unwritable = await cli("export", "--output", target);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain(`--output: cannot write ${target}: no such directory`);
    expect(unwritable.stderr).not.toContain("INTERNAL");
  });
});

describe("validate-config", () => {
  it("accepts a valid file (YAML and JSON)", async () => {
    const good = {
      observers: [
        {
          name: "a",
          entity_type: "Order",
          event_type: "update",
          condition_expression: "status == 'shipped'",
          actions: [{ type: "webhook", url: "https://example.com/hook" }],
        },
      ],
    };
    const yaml = await cli("validate-config", file("good.yaml", good));
    expect(yaml.code, yaml.stderr).toBe(0);
    expect(yaml.stdout).toContain("1 observer(s), valid");
    const json = await cli(
      "validate-config",
      file("good.json", JSON.stringify(good)),
      "--format",
      "json",
    );
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, observers: 1, issues: [] });
  });

  it("lists every problem with its path and exits 1", async () => {
    const bad = file("bad.yaml", {
      observers: [
        {
          name: "x",
          condition_expression: "status ==",
          actions: [{ type: "webhook", url: "ftp://x" }],
        },
        { name: "y", event_type: "UPSERT", colour: "red", actions: [] },
        { name: "x", actions: [{ type: "webhook", url: "https://example.com" }] },
      ],
      extra: 1,
    });
    const result = await cli("validate-config", bad);
    expect(result.code).toBe(1);
    for (const path of [
      "observers.0.condition_expression",
      "observers.0.actions.0.url",
      "observers.1.event_type",
      'observers.1.colour: unknown field "colour"',
      "observers.1.actions",
      "observers.2.name",
      "extra",
    ]) {
      expect(result.stderr).toContain(path);
    }
  });

  it("refuses a YAML alias bomb", async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const next = String.fromCharCode(97 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(",")}]`);
    }
    const result = await cli("validate-config", file("bomb.yaml", lines.join("\n")));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not valid YAML or JSON");
  });
});

describe("observers as code", () => {
  const base = () => ({
    observers: [
      {
        name: "cli-shipped",
        entity_type: "Order",
        event_type: "UPDATE",
        condition_expression: "status == 'shipped'",
        actions: [{ type: "webhook", url: `${receiver.url}/ok`, signing_secret: secret }],
      },
      {
        name: "cli-created",
        entity_type: "Order",
        event_type: "INSERT",
        condition_expression: "status == 'apply-test'",
        retry_config: { max_attempts: 2 },
        actions: [{ type: "webhook", url: `${receiver.url}/ok` }],
      },
    ],
  });

  it("apply creates, applies again as a no-op, updates the changed fields, dry-runs and prunes", async () => {
    const path = file("observers.yaml", base());
    const first = await cli("apply", path);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("+ create    cli-shipped");
    expect(first.stdout).toContain("create 2, update 0, delete 0, unchanged 0");

    const again = await cli("apply", path, "--format", "json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).summary).toEqual({
      create: 0,
      update: 0,
      delete: 0,
      unchanged: 2,
    });

    const changed = base();
    Object.assign(changed.observers[1] ?? {}, {
      priority: 5,
      condition_expression: "status == 'apply-test-2'",
    });
    const dry = await cli("apply", file("changed.yaml", changed), "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("~ update    cli-created: condition_expression, priority");
    expect(dry.stdout).toContain("dry run: nothing changed");
    expect((await cli("apply", path)).stdout).toContain("unchanged 2");

    const update = await cli("apply", file("changed.yaml", changed));
    expect(update.stdout).toContain("update 1");
    const stored = (await (await server.api("/api/observers?page_size=100")).json()) as {
      data: { name: string; priority: number; actions: unknown[] }[];
    };
    expect(stored.data.find((o) => o.name === "cli-created")?.priority).toBe(5);

    const onlyOne = { observers: [changed.observers[0]] };
    const keep = await cli("apply", file("one.yaml", onlyOne));
    expect(keep.stdout).toContain("delete 0");
    const pruned = await cli("apply", file("one.yaml", onlyOne), "--prune");
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain("- delete    cli-created");
    expect((await cli("apply", file("one.yaml", onlyOne), "--prune")).stdout).toContain(
      "create 0, update 0, delete 0, unchanged 1",
    );
    // Put the second one back for the tests below.
    expect((await cli("apply", path)).code).toBe(0);
  });

  it("a tenant-bound key manages its tenant's observers without --tenant; a wrong or global --tenant is refused", async () => {
    const created = await fetch(new URL("/api/keys", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "cli-tenant-5", scope: "admin", fk_customer_org: 5 }),
    });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const asTenant = (...args: string[]) =>
      runCli(args, { env: { OBSERVERS_URL: server.url, OBSERVERS_TOKEN: token } });
    const path = file("tenant.yaml", {
      observers: [{ name: "tenant-5-log", actions: [{ type: "log", message_template: "hi" }] }],
    });
    const first = await asTenant("apply", path);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("create 1, update 0, delete 0, unchanged 0");
    // The key's own tenant is the scope: applying again is a no-op (it used to plan a second
    // create against the global observers and fail with 409).
    const again = await asTenant("apply", path);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("create 0, update 0, delete 0, unchanged 1");
    expect((await asTenant("export")).stdout).toContain("name: tenant-5-log");
    // status counts the key's observers, and says the runtime's count is every tenant's.
    expect((await asTenant("status")).stdout).toMatch(
      /observers: +1 \(the runtime has \d+ enabled and loaded, of every tenant\)/,
    );
    const wrong = await asTenant("apply", path, "--tenant", "6");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("this key is bound to tenant 5");
    // An unbound key would create global observers, not tenant 5's: refused before any write.
    const global = await cli(
      "apply",
      file("tenant-new.yaml", {
        observers: [{ name: "tenant-5-new", actions: [{ type: "log", message_template: "hi" }] }],
      }),
      "--tenant",
      "5",
    );
    expect(global.code).toBe(2);
    expect(global.stderr).toContain("not bound to a tenant");
    expect((await asTenant("export")).stdout).not.toContain("tenant-5-new");
    expect((await cli("export")).stdout).not.toContain("tenant-5-new");
  });

  it("export never shows a secret, and export | apply changes nothing", async () => {
    const exported = await cli("export");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('signing_secret: "[REDACTED]"');
    expect(exported.stdout).not.toContain(secret);
    const roundTrip = await cli("apply", file("exported.yaml", exported.stdout), "--prune");
    expect(roundTrip.code, roundTrip.stderr).toBe(0);
    expect(roundTrip.stdout).toMatch(/create 0, update 0, delete 0, unchanged \d+/);
    const asJson = await cli("export", "--format", "json");
    const roundJson = await cli("apply", file("exported.json", asJson.stdout), "--format", "json");
    expect(JSON.parse(roundJson.stdout).summary).toMatchObject({ create: 0, update: 0, delete: 0 });
    // A placeholder is never written as the secret: changing such an observer's actions is refused.
    const document = JSON.parse(asJson.stdout) as {
      observers: { name: string; actions: { url: string }[] }[];
    };
    const shipped = document.observers.find((o) => o.name === "cli-shipped");
    if (!shipped?.actions[0]) throw new Error("cli-shipped was not exported");
    shipped.actions[0].url = `${receiver.url}/elsewhere`;
    const refused = await cli("apply", file("placeholder.json", JSON.stringify(document)));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("actions.0.signing_secret: is a [REDACTED] placeholder");
  });
});

describe("pause and resume", () => {
  it("pause holds an observer by name, export | apply leaves the state alone, resume releases it", async () => {
    const paused = await cli("pause", "cli-shipped");
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/cli-shipped \(.+\) paused since .+: deliveries held/);
    const exported = await cli("export", "--format", "json");
    expect(exported.stdout).not.toContain("paused");
    const roundTrip = await cli("apply", file("paused.json", exported.stdout), "--format", "json");
    expect(JSON.parse(roundTrip.stdout).summary).toMatchObject({ create: 0, update: 0, delete: 0 });
    const json = await cli("resume", "cli-shipped", "--format", "json");
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: "cli-shipped", paused: false });
    const usage = await cli("pause");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("pause takes one observer");
    // The name is an argument here, not an --observer option.
    const unknown = await cli("resume", "no-such-observer");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('resume: no observer named "no-such-observer"');
  });
});

describe("debug-event and the dead-letter queue", () => {
  it("debug-event explains a real change: who fired, who did not, and the delivery", async () => {
    const eventId = await insertOrder("apply-test");
    await eventually(() => (receiver.requests.length > 0 ? true : undefined), "the delivery");
    const explained = await eventually(async () => {
      const result = await cli("debug-event", eventId);
      return result.stdout.includes("attempt 1: success") ? result : undefined;
    }, "the delivery's outcome");
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain(`change ${eventId}: INSERT Order`);
    expect(explained.stdout).toMatch(/fired +cli-created/);
    expect(explained.stdout).toMatch(/skipped cli-shipped/);
    expect(explained.stdout).toContain("event_type");
    const json = await cli("debug-event", eventId, "--format", "json");
    expect(JSON.parse(json.stdout).event.event_id).toBe(eventId);
    const missing = await cli("debug-event", "00000000-0000-4000-8000-000000000000");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("HTTP 404 NOT_FOUND");
  });

  it("debug-event explains a one-off event's id: its observer, why it fired, and the delivery", async () => {
    const headers = {
      authorization: `Bearer ${server.token}`,
      "content-type": "application/json",
    };
    const created = await fetch(`${server.url}/api/observers`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: "cli-one-off",
        actions: [{ type: "webhook", url: `${receiver.url}/one-off` }],
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const runAt = new Date().toISOString();
    const scheduled = await fetch(`${server.url}/api/observers/${id}/schedule`, {
      method: "POST",
      headers,
      body: JSON.stringify({ run_at: runAt }),
    });
    expect(scheduled.status).toBe(201);
    const event = (await scheduled.json()) as { id: string };
    const explained = await eventually(async () => {
      const result = await cli("debug-event", event.id);
      return result.stdout.includes("attempt 1: success") ? result : undefined;
    }, "the one-off event's outcome");
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain(`one-off event ${event.id}: SCHEDULE at ${runAt}`);
    expect(explained.stdout).toMatch(/fired +cli-one-off/);
    expect(explained.stdout).toContain("one_off: the event is this observer's own");
  });

  it("dlq list, show, stats, retry, remove and retry-all on real dead letters", async () => {
    const failing = {
      observers: [
        {
          name: "cli-failing",
          entity_type: "Order",
          event_type: "INSERT",
          condition_expression: "status in ['dlq-1', 'dlq-2', 'dlq-3']",
          retry_config: { max_attempts: 1 },
          actions: [{ type: "webhook", url: `${receiver.url}/fail` }],
        },
      ],
    };
    const applied = await cli("apply", file("failing.yaml", failing));
    expect(applied.code, applied.stderr).toBe(0);
    for (const status of ["dlq-1", "dlq-2", "dlq-3"]) await insertOrder(status);
    const letters = await eventually(async () => {
      const result = await cli("dlq", "list", "--observer", "cli-failing", "--format", "json");
      const page = JSON.parse(result.stdout) as { data: { id: string; status: string }[] };
      return page.data.length === 3 ? page.data : undefined;
    }, "three dead letters");
    const [first, second] = letters;
    if (!first || !second) throw new Error("no dead letters");

    const list = await cli("dlq", "list");
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(first.id);
    expect(list.stdout).toContain("cli-failing");

    const show = await cli("dlq", "show", first.id);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("HTTP_STATUS");
    expect(show.stdout).toContain("(HTTP 500)");

    const stats = JSON.parse((await cli("dlq", "stats", "--format", "json")).stdout);
    expect(stats.total_items).toBe(3);
    expect((await cli("dlq", "stats")).stdout).toContain("cli-failing");

    const retry = await cli("dlq", "retry", first.id);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain(`Retry queued: ${first.id}`);

    const remove = await cli("dlq", "remove", second.id);
    expect(remove).toMatchObject({ code: 0, stdout: `removed ${second.id}\n` });
    expect((await cli("dlq", "show", second.id)).code).toBe(1);

    // Wait for the first replay to fail again, then re-queue everything and wait for it.
    await eventually(async () => {
      const now = JSON.parse((await cli("dlq", "stats", "--format", "json")).stdout);
      return now.retrying === 0 ? true : undefined;
    }, "the replay to finish");
    const all = await cli(
      "dlq",
      "retry-all",
      "--observer",
      "cli-failing",
      "--wait",
      "--format",
      "json",
    );
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({
      items_retried: 2,
      items_failed: 0,
      still_retrying: 0,
    });
    const text = await cli("dlq", "retry-all", "--error-code", "NO_SUCH_CODE");
    expect(text.stdout).toContain("re-queued 0");
  });
});

describe("live: tail and listen", () => {
  it("tail prints a real change as it happens and stops cleanly on Ctrl-C", async () => {
    const tail = startCli(["tail", "--entity-type", "Order", "--format", "json"], {
      env: { OBSERVERS_URL: server.url, OBSERVERS_TOKEN: server.token },
    });
    await tail.waitFor("stderr", "ready: streaming");
    const eventId = await insertOrder("tail-test");
    await tail.waitFor("stdout", eventId);
    const result = await tail.interrupt();
    expect(result.code).toBe(0);
    const change = result.stdout
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((message) => message.event_id === eventId);
    expect(change).toMatchObject({ type: "change", entity_type: "Order", event_type: "INSERT" });
  });

  it("listen forwards a real change to a local URL, signed as Standard Webhooks", async () => {
    const local = await startReceiver(() => ({ status: 200, body: "ok" }));
    try {
      const listen = startCli(
        [
          "listen",
          "--forward-to",
          `${local.url}/webhooks`,
          "--secret",
          secret,
          "--entity-type",
          "Order",
        ],
        { env: { OBSERVERS_URL: server.url, OBSERVERS_TOKEN: server.token } },
      );
      await listen.waitFor("stderr", "Ready! Forwarding changes");
      expect(listen.stderr()).toContain(`Your webhook signing secret is ${secret}`);
      const eventId = await insertOrder("listen-test");
      const [request] = await local.waitFor(1);
      if (!request) throw new Error("nothing forwarded");
      const verified = new Webhook(secret).verify(
        request.text,
        request.headers as Record<string, string>,
      );
      expect(verified).toMatchObject({
        type: "Order.insert",
        event_id: eventId,
        entity_type: "Order",
        after: { status: "listen-test" },
      });
      expect(request.headers["webhook-id"]).toBe(eventId);
      await listen.waitFor("stdout", `[${eventId}] --> POST ${local.url}/webhooks [200]`);
      expect((await listen.interrupt()).code).toBe(0);
      // A generated secret is printed at start.
      const generated = startCli(["listen", "--forward-to", `${local.url}/x`], {
        env: { OBSERVERS_URL: server.url, OBSERVERS_TOKEN: server.token },
      });
      await generated.waitFor("stderr", /Your webhook signing secret is whsec_[A-Za-z0-9+/=]{40,}/);
      expect((await generated.interrupt()).code).toBe(0);
    } finally {
      await local.close();
    }
  });
});

/** A TCP proxy to the server whose connections the test can cut, as a network drop would. */
async function startProxy(
  target: string,
): Promise<{ url: string; cut(): void; resume(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let refusing = false;
  const proxy: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  // Port 0: the kernel's pick, bound at once (a port picked free and bound later may be taken).
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const listenPort = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${listenPort}`,
    /** Drops every connection and refuses new ones until `resume`. */
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    resume() {
      refusing = false;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}

describe("tail reconnects", () => {
  it("after a dropped connection, with what happened meanwhile, exactly once", async () => {
    const proxy = await startProxy(server.url);
    try {
      const tail = startCli(["tail", "--entity-type", "Order", "--format", "json"], {
        env: { OBSERVERS_URL: proxy.url, OBSERVERS_TOKEN: server.token },
      });
      await tail.waitFor("stderr", "ready: streaming");
      const before = await insertOrder("before-drop");
      await tail.waitFor("stdout", before);
      proxy.cut();
      await tail.waitFor("stderr", "reconnecting in");
      // Captured while the CLI cannot connect: it must come with the resumed stream (since=cursor).
      const during = await insertOrder("during-drop");
      expect(tail.stdout()).not.toContain(during);
      proxy.resume();
      await tail.waitFor("stdout", during);
      const result = await tail.interrupt();
      expect(result.code).toBe(0);
      // The change messages (an observer of an earlier test may add execution messages, which
      // carry the same event id).
      const ids = result.stdout
        .trim()
        .split("\n")
        .map((text) => JSON.parse(text) as { type: string; event_id: string })
        .filter((message) => message.type === "change")
        .map((message) => message.event_id);
      expect(ids.filter((id) => id === before)).toHaveLength(1);
      expect(ids.filter((id) => id === during)).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});

describe("metrics", () => {
  it("prints the server's Prometheus text, or says it has none", async () => {
    const result = await cli("metrics");
    const scraped = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    if (scraped.status === 404) {
      // A server without /metrics (before the metrics endpoint): both paths tried, exit 1.
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("GET /metrics and /api/observers/metrics both answered 404");
    } else {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain("fraiseql_observer_events_processed_total");
      const samples = JSON.parse((await cli("metrics", "--format", "json")).stdout) as {
        name: string;
      }[];
      expect(samples.some((s) => s.name === "fraiseql_observer_events_processed_total")).toBe(true);
    }
  });

  it("parses the exposition format, falling back to /api/observers/metrics", async () => {
    const exposition = [
      "# HELP fraiseql_observer_action_duration_seconds Action duration",
      "# TYPE fraiseql_observer_action_duration_seconds histogram",
      'fraiseql_observer_action_duration_seconds_bucket{action_type="webhook",le="0.1"} 3',
      'fraiseql_observer_action_duration_seconds_bucket{action_type="webhook",le="+Inf"} 4',
      'fraiseql_observer_action_duration_seconds_sum{action_type="webhook"} 0.5',
      "# TYPE fraiseql_observer_dlq_items gauge",
      "fraiseql_observer_dlq_items 2",
      "",
    ].join("\n");
    const fake = await startReceiver((request) =>
      request.path === "/api/observers/metrics"
        ? {
            status: 200,
            headers: { "content-type": "text/plain; version=0.0.4" },
            body: exposition,
          }
        : { status: 404 },
    );
    try {
      const text = await runCli(["metrics", "--base-url", fake.url]);
      expect(text).toMatchObject({ code: 0, stdout: exposition });
      const json = await runCli(["metrics", "--base-url", fake.url, "--format", "json"]);
      const samples = JSON.parse(json.stdout);
      expect(samples).toContainEqual({
        name: "fraiseql_observer_action_duration_seconds_bucket",
        type: "histogram",
        help: "Action duration",
        labels: { action_type: "webhook", le: "+Inf" },
        value: 4,
      });
      expect(samples).toContainEqual({
        name: "fraiseql_observer_dlq_items",
        type: "gauge",
        help: null,
        labels: {},
        value: 2,
      });
      const only = await runCli([
        "metrics",
        "--base-url",
        fake.url,
        "--metric",
        "fraiseql_observer_dlq",
      ]);
      expect(only.stdout).toBe(
        "# TYPE fraiseql_observer_dlq_items gauge\nfraiseql_observer_dlq_items 2\n",
      );
    } finally {
      await fake.close();
    }
  });
});
