/**
 * The servers survive a database connection that fails while postgres.js is still setting it up.
 * The driver runs its own array-type query on every new connection and drops that promise
 * (porsager/postgres#1192): a termination landing then used to end the whole server with an
 * unhandled rejection (found by the fault suite, test/e2e/fault.test.ts, terminating the server's
 * connections under load).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrdersTable, eventually } from "../support/observers.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";
import { startTypeFetchSaboteur, type TypeFetchSaboteur } from "../support/type-fetch-saboteur.ts";

const receiver = useReceiver(() => ({ status: 204 }));
let db: TestDatabase | undefined;
let saboteur: TypeFetchSaboteur | undefined;
let server: ServerProcess | undefined;

afterEach(async () => {
  await server?.kill9();
  await saboteur?.close();
  await db?.drop();
});

describe.each(["bun", "deno"] as const)(
  "a connection failing during the driver's own start-up query (%s)",
  (runtime) => {
    it("does not end the server, which goes on delivering", { timeout: 60_000 }, async () => {
      const database = await createTestDatabase(`type_fetch_${runtime}`);
      db = database;
      await createOrdersTable(database.sql);
      const proxy = await startTypeFetchSaboteur(database.url, database.sql);
      saboteur = proxy;
      const running = await startServer(
        { DATABASE_URL: proxy.url(database.name), OBSERVERS_POLL_INTERVAL_MS: "250" },
        { runtime },
      );
      server = running;
      const died = new Promise<never>((_, reject) =>
        running.child.once("exit", (code, signal) =>
          reject(new Error(`the server exited (${signal ?? code}):\n${running.output()}`)),
        ),
      );
      died.catch(() => {});
      const created = await running.api("/api/observers", {
        method: "POST",
        body: JSON.stringify({
          name: "type-fetch",
          entity_type: "Order",
          event_type: "INSERT",
          actions: [{ type: "webhook", url: `${receiver.url}/hook` }],
        }),
      });
      expect(created.status, await created.clone().text()).toBe(201);

      // Every connection of the server ends; the next one it opens fails during its type query.
      proxy.arm();
      await database.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = ${database.name} AND application_name LIKE 'fraiseql-observers%'`;
      await eventually(() => (proxy.fired() > 0 ? true : undefined), "the sabotaged connection");

      await database.sql`INSERT INTO orders (status) VALUES ('after')`;
      const [request] = await Promise.race([receiver.waitFor(1), died]);
      expect(JSON.parse(request?.text ?? "{}").after).toMatchObject({ status: "after" });
      expect(running.child.exitCode).toBeNull();
      expect(running.output()).toContain("a new database connection failed while starting");
    });
  },
);
