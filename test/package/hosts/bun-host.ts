// A Bun host app using the installed package (test/package/tarball.test.ts runs it with
// DATABASE_URL set to an empty database): its own postgres.js pool, given to the observers
// (`sql`), and its own `Bun.serve({ fetch, websocket })` on a free port. Prints JSON: what it saw.
import { type BunServer, createObservers } from "fraiseql-observers/bun";
import postgres from "postgres";
import { exercise, hostAudit, OBSERVERS_ENV } from "./host-app.ts";

// What this app uses of Bun's globals (a project with @types/bun has them).
declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
    websocket: ReturnType<typeof createObservers>["websocket"];
  }): BunServer;
};

const sql = postgres(Bun.env.DATABASE_URL ?? "", { onnotice: () => {} });
const observers = createObservers({ sql, env: OBSERVERS_ENV, actions: [hostAudit] });
const seen = await exercise(observers, sql, (fetch) => {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch,
    websocket: observers.websocket,
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: async () => server.stop(true) };
});
console.log(JSON.stringify(seen));
