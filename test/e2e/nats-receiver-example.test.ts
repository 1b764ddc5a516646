/**
 * docs/nats.md's receiving example works as written: its `ts` block is docs/examples/nats-receiver.ts
 * byte for byte (so `npm run typecheck` checks what the page shows), and that file, run with Node
 * as a user runs it, reads the changes a real bridge (the Bun server with OBSERVERS_TRANSPORT=nats,
 * OBSERVERS_ROLE=bridge) publishes to a real nats-server: one line per change of the filtered
 * entity type, each acknowledged on its own durable consumer, and it stops cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type NatsServer, startNatsServer } from "../support/nats-server.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

const ROOT = join(import.meta.dirname, "../..");
const EXAMPLE = join(ROOT, "docs/examples/nats-receiver.ts");
const NODE = join(ROOT, "node_modules/.bin/node");

/** The fenced `ts` blocks of docs/nats.md. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("docs/nats.md's receiving example", () => {
  it("is docs/examples/nats-receiver.ts, byte for byte", () => {
    const blocks = tsBlocks(readFileSync(join(ROOT, "docs/nats.md"), "utf8"));
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toBe(readFileSync(EXAMPLE, "utf8"));
  });

  describe("run against a real bridge and nats-server", () => {
    let nats: NatsServer;
    let database: TestDatabase;
    let bridge: ServerProcess;
    let nc: NatsConnection;
    let example: ChildProcess | undefined;
    let printed = "";
    let errors = "";

    beforeAll(async () => {
      nats = await startNatsServer();
      database = await createTestDatabase("nats_example");
      await database.sql`CREATE TABLE orders (id serial PRIMARY KEY, status text, total numeric)`;
      await database.sql`CREATE TABLE customers (id serial PRIMARY KEY, name text)`;
      await database.sql`SELECT core.fn_track_table('public.orders', 'Order')`;
      await database.sql`SELECT core.fn_track_table('public.customers', 'Customer')`;
      bridge = await startServer({
        DATABASE_URL: database.url,
        OBSERVERS_TRANSPORT: "nats",
        OBSERVERS_ROLE: "bridge",
        NATS_URL: nats.url,
      });
      nc = await connect({ servers: nats.url });
    }, 60_000);

    afterAll(async () => {
      if (example && example.exitCode === null) example.kill("SIGKILL");
      await nc?.close();
      await bridge?.stop();
      await database?.drop();
      await nats?.close();
    });

    it("prints every Order change, acks each, and stops on SIGTERM", async () => {
      const jsm = await jetstreamManager(nc);
      // The bridge creates the stream; the example only adds its consumer to it.
      await until("the stream", () => jsm.streams.info("fraiseql_events"));

      example = spawn(NODE, [EXAMPLE], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", NATS_URL: nats.url },
        stdio: ["ignore", "pipe", "pipe"],
      });
      example.stdout?.on("data", (chunk: Buffer) => {
        printed += chunk.toString();
      });
      example.stderr?.on("data", (chunk: Buffer) => {
        errors += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) =>
        example?.once("exit", (code) => resolve(code)),
      );
      await until("the example's consumer", () =>
        jsm.consumers.info("fraiseql_events", "order_audit"),
      );

      const [order] = await database.sql<{ id: number }[]>`
        INSERT INTO orders (status, total) VALUES ('new', 250) RETURNING id`;
      await database.sql`INSERT INTO customers (name) VALUES ('not an order')`;
      await database.sql`UPDATE orders SET status = 'shipped' WHERE id = ${order?.id ?? 0}`;

      await until("two lines", async () =>
        printed.trim().split("\n").length >= 2 ? true : undefined,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; the example printed:\n${printed}\n${errors}`);
      });
      const lines = printed.trim().split("\n");
      expect(lines[0]).toMatch(new RegExp(`^INSERT Order ${order?.id} \\{`));
      expect(lines[0]).toContain("status: 'new'");
      expect(lines[1]).toMatch(new RegExp(`^UPDATE Order ${order?.id} \\{`));
      expect(lines[1]).toContain("status: 'shipped'");

      // Acked: nothing pending or waiting for an ack on the example's own consumer, while the
      // stream holds the Customer change it filtered out.
      const info = await until("both acks", async () => {
        const consumer = await jsm.consumers.info("fraiseql_events", "order_audit");
        return consumer.ack_floor.stream_seq > 0 && consumer.num_ack_pending === 0
          ? consumer
          : undefined;
      });
      expect(info.delivered.consumer_seq).toBe(2);
      expect(info.num_pending).toBe(0);
      expect((await jsm.streams.info("fraiseql_events")).state.messages).toBe(3);

      example.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(printed.trim().split("\n")).toHaveLength(2);
    }, 60_000);
  });
});
