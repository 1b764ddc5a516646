/**
 * The plugin in a host application, end to end, for one runtime (test/e2e/bun-host.test.ts,
 * test/e2e/deno-host.test.ts): a host program (host-process.ts) mounts the observers at `/` with
 * its own postgres.js pool, or under `/observers` with `databaseUrl`, and serves them on its own
 * port. Its routes answer without a token; an observer created through the mounted API delivers a
 * webhook from a row the host inserts; a live subscriber on the host's port sees the change; and
 * `stop()` drains and leaves the host's pool open (the host queries it afterwards).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { type HostOptions, type HostProcess, startHost } from "./host-process.ts";
import { connectLive, type LiveClient } from "./live-client.ts";
import { createOrdersTable } from "./observers.ts";
import { useReceiver } from "./receiver.ts";

const TOKEN = "host-admin-token-0123456789abcdef";

const RUNS: {
  name: string;
  prefix: string;
  database: HostOptions["database"];
  routesFirst: boolean;
}[] = [
  {
    name: "mounted at / with the host's postgres.js sql",
    prefix: "",
    database: "sql",
    routesFirst: true,
  },
  {
    name: "mounted at /observers with databaseUrl",
    prefix: "/observers",
    database: "url",
    routesFirst: false,
  },
];

export function hostScenario(runtime: HostOptions["runtime"]): void {
  const receiver = useReceiver(() => ({ status: 204 }));
  let db: TestDatabase | undefined;
  let host: HostProcess | undefined;
  let live: LiveClient | undefined;

  afterEach(async () => {
    await live?.close();
    await host?.close();
    await db?.drop();
    live = undefined;
    host = undefined;
    db = undefined;
  });

  describe(`a ${runtime} host application`, () => {
    for (const run of RUNS) {
      it(`${run.name}: host routes unaffected, webhook and live feed delivered, sql left open`, {
        timeout: 90_000,
      }, async () => {
        const database = await createTestDatabase(`host_${runtime}_${run.database}`);
        db = database;
        await createOrdersTable(database.sql);
        const running = await startHost({
          runtime,
          prefix: run.prefix,
          database: run.database,
          routesFirst: run.routesFirst,
          databaseUrl: database.url,
          env: {
            OBSERVERS_ADMIN_TOKEN: TOKEN,
            OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
            OBSERVERS_POLL_INTERVAL_MS: "250",
          },
        });
        host = running;
        const api = (path: string, init: RequestInit = {}) =>
          fetch(`${running.observersUrl}${path}`, {
            ...init,
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          });

        // The host's own routes, without a token.
        const home = await fetch(`${running.url}/`);
        expect(home.status).toBe(200);
        expect(await home.text()).toBe("host home");
        const health = await fetch(`${running.url}/api/health`);
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ host: "ok" });
        // The mounted API still wants its token.
        expect((await fetch(`${running.observersUrl}/api/observers`)).status).toBe(401);

        const created = await api("/api/observers", {
          method: "POST",
          body: JSON.stringify({
            name: `host-${runtime}`,
            entity_type: "Order",
            event_type: "INSERT",
            actions: [{ type: "webhook", url: `${receiver.url}/hook` }],
          }),
        });
        expect(created.status).toBe(201);

        // Live notifications on the host's own port (and prefix).
        const subscriber = connectLive(running.observersUrl, {
          token: TOKEN,
          params: { entity_type: "Order" },
        });
        live = subscriber;
        await subscriber.ready();

        // A change made in the database, by the host's own route and pool.
        const inserted = await fetch(`${running.url}/api/orders`, { method: "POST" });
        expect(inserted.status).toBe(201);
        const { id } = (await inserted.json()) as { id: string };

        const [request] = await receiver.waitFor(1);
        expect(request?.path).toBe("/hook");
        expect(JSON.parse(request?.text ?? "{}").after).toMatchObject({ status: "from-host" });
        const [change] = await subscriber.waitFor(1, (m) => m.type === "change");
        expect(change).toMatchObject({ entity_type: "Order", entity_id: id, event_type: "INSERT" });

        // The runtime listens for NOTIFY on a connection of its own (also beside the host's pool).
        const connections = () => database.sql<{ name: string }[]>`
          SELECT application_name AS name FROM pg_stat_activity
          WHERE datname = ${database.name} AND application_name LIKE 'fraiseql-observers%'`;
        expect((await connections()).map((row) => row.name)).toContain("fraiseql-observers:listen");

        // stop() drains and closes the live sockets; the host's pool stays open.
        const stopped = await fetch(`${running.url}/host/stop`, { method: "POST" });
        expect(stopped.status).toBe(200);
        expect(await stopped.json()).toEqual({ stopped: true, orders: 1 });
        expect((await subscriber.closed).code).toBe(1001);
        // The host goes on serving; the stopped observers answer 503 with a problem document.
        expect((await fetch(`${running.url}/api/health`)).status).toBe(200);
        const after = await api("/api/observers");
        expect(after.status).toBe(503);
        expect(after.headers.get("content-type")).toContain("application/problem+json");
        expect(((await after.json()) as { code: string }).code).toBe("NOT_RUNNING");
        // Every connection the factory opened is closed (pools and listener), none of the host's.
        expect(await connections()).toEqual([]);
        expect(running.child.exitCode).toBeNull();
      });
    }
  });
}
