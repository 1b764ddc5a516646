/**
 * `npm run server` / `bun run server`: the observer runtime and its HTTP API on Bun, configured by
 * environment variables (see `SERVER_ENV_VARS`). Exit codes: see adapters/hosts/server/main.ts.
 */
import { runServerMain } from "../server/main.ts";
import { bunGlobal } from "./bun-api.ts";
import { serveBun } from "./serve.ts";

await runServerMain({
  env: bunGlobal().env,
  start: (options) => serveBun(options),
  exit: (code) => process.exit(code),
  onSignal: (signal, handler) => process.on(signal, handler),
});
