// A Deno host app using the installed package (test/package/tarball.test.ts runs it with
// DATABASE_URL set to an empty database): its own postgres.js pool for its routes, the observers
// on pools of their own (`databaseUrl`), and its own `Deno.serve` on a free port. Prints JSON:
// what it saw.
import { createObservers } from "fraiseql-observers/deno";
import postgres from "postgres";
import { exercise, hostAudit, OBSERVERS_ENV } from "./host-app.ts";

// What this app uses of Deno's globals (a Deno project has them).
declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(
    options: { hostname: string; port: number; onListen(): void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
};

const databaseUrl = Deno.env.get("DATABASE_URL") ?? "";
const sql = postgres(databaseUrl, { onnotice: () => {} });
const observers = createObservers({ databaseUrl, env: OBSERVERS_ENV, actions: [hostAudit] });
const seen = await exercise(observers, sql, (fetch) => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, fetch);
  return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
});
console.log(JSON.stringify(seen));
