/**
 * The zero-configuration start: no DATABASE_URL, so the server runs on embedded PGlite, generates
 * an admin token and prints it once, and exposes the database on a local port where an
 * application writes rows that become webhooks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../support/observers.ts";
import { freePort } from "../support/ports.ts";
import { useReceiver } from "../support/receiver.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const receiver = useReceiver(() => ({ status: 204 }));
const dataDir = mkdtempSync(join(tmpdir(), "fraiseql-observers-embedded-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function startEmbedded(port: number): Promise<ServerProcess> {
  return startServer({
    OBSERVERS_DATA_DIR: dataDir,
    OBSERVERS_EMBEDDED_PORT: String(port),
    OBSERVERS_ADMIN_TOKEN: "",
    OBSERVERS_POLL_INTERVAL_MS: "200",
    LOG_LEVEL: "info",
  });
}

describe("the server without DATABASE_URL", () => {
  it("runs on embedded PGlite, prints a token once, and delivers rows written through its socket", async () => {
    const socketPort = await freePort();
    const server = await startEmbedded(socketPort);
    let app: postgres.Sql | undefined;
    try {
      const printed = await eventually(
        () => (server.output().includes("fn_track_table") ? server.output() : undefined),
        "the embedded-mode guide",
      );
      const token = printed.match(/^\s+(obs_[A-Za-z0-9_-]{20,})\s*$/m)?.[1];
      expect(token, printed).toBeDefined();
      expect(printed).toContain(`127.0.0.1:${socketPort}`);

      app = postgres(`postgres://postgres@127.0.0.1:${socketPort}/postgres`, {
        max: 1,
        onnotice: () => {},
      });
      await app.unsafe("CREATE TABLE public.orders (id serial PRIMARY KEY, status text)");
      await app`SELECT core.fn_track_table('public.orders', 'Order')`;
      const created = await fetch(`${server.url}/api/observers`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: "embedded",
          entity_type: "Order",
          event_type: "INSERT",
          actions: [{ type: "webhook", url: `${receiver.url}/embedded` }],
        }),
      });
      expect(created.status).toBe(201);
      await app`INSERT INTO orders (status) VALUES ('placed')`;
      const [request] = await receiver.waitFor(1);
      expect(JSON.parse(request?.text ?? "").after).toEqual({ id: 1, status: "placed" });
    } finally {
      await app?.end({ timeout: 1 });
      expect(await server.stop()).toBe(0);
    }

    // A restart keeps the data and the token, and prints no new token.
    const again = await startEmbedded(await freePort());
    try {
      await eventually(
        () => (again.output().includes("generated") ? true : undefined),
        "the notice",
      );
      expect(again.output()).not.toMatch(/^\s+obs_[A-Za-z0-9_-]{20,}\s*$/m);
      const health = await (await fetch(`${again.url}/api/observers/runtime/health`)).json();
      expect(health).toMatchObject({ running: true, observer_count: 1 });
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });
});
