// A Bun host app using the installed package (test/package/tarball.test.ts runs it with DATABASE_URL
// set to an empty database). Prints JSON: what the host saw. Needs the Bun factory (issue 16).
import { createObservers } from "fraiseql-observers/bun";
import { ADMIN_TOKEN, exercise } from "./host-app.ts";

declare const process: { env: Record<string, string | undefined> };

const observers = createObservers({
  databaseUrl: process.env.DATABASE_URL,
  env: { OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: "warn" },
});
const seen = await exercise(observers);
console.log(JSON.stringify({ ...seen, websocket: typeof observers.websocket }));
