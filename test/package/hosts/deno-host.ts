// A Deno host app using the installed package (test/package/tarball.test.ts runs it with
// DATABASE_URL set to an empty database). Prints JSON: what the host saw. Needs the Deno factory
// (issue 16).
import { createObservers } from "fraiseql-observers/deno";
import { ADMIN_TOKEN, exercise } from "./host-app.ts";

declare const Deno: { env: { get(name: string): string | undefined } };

const observers = createObservers({
  databaseUrl: Deno.env.get("DATABASE_URL"),
  env: { OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: "warn" },
});
console.log(JSON.stringify(await exercise(observers)));
