import postgres from "postgres";
import { it } from "vitest";
import { createEmbeddedClient, startEmbeddedSocket } from "../../adapters/embedded/index.ts";

it("dbg", async () => {
  const client = await createEmbeddedClient({ memory: true });
  await client.query("create table kv (k text primary key)");
  const socket = await startEmbeddedSocket(client, { port: 0 });
  const sql = postgres(socket.url, { max: 1, onnotice: () => {} });
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const runtime = client
    .transaction(async (tx) => {
      await tx.query("INSERT INTO kv VALUES ('runtime')");
      console.log(performance.now().toFixed(0), "runtime inserted");
      await held;
      throw new Error("rb");
    })
    .catch((e) => console.log(performance.now().toFixed(0), "runtime done", e.message));
  const write = sql`INSERT INTO kv VALUES ('client')`.then(
    () => console.log(performance.now().toFixed(0), "client wrote"),
    (e) => console.log("client err", e),
  );
  await new Promise((r) => setTimeout(r, 100));
  console.log(performance.now().toFixed(0), "releasing");
  release();
  await runtime;
  console.log(performance.now().toFixed(0), "runtime awaited");
  await write;
  console.log(performance.now().toFixed(0), "write awaited");
  const reserved = await sql.reserve();
  console.log(performance.now().toFixed(0), "reserved");
  await reserved`BEGIN`;
  await reserved`INSERT INTO kv VALUES ('abandoned')`;
  console.log(performance.now().toFixed(0), "in tx");
  await sql.end({ timeout: 0 });
  console.log(performance.now().toFixed(0), "ended", Date.now());
  console.log(performance.now().toFixed(0), await client.query("SELECT k FROM kv"), Date.now());
  await socket.close();
  console.log(performance.now().toFixed(0), "socket closed");
  await client.close();
}, 15000);
