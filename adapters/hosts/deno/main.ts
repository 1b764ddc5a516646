/**
 * `npm run server:deno`: the observer runtime and its HTTP API on Deno, configured by environment
 * variables (see `SERVER_ENV_VARS`) like the Bun server. Exit codes: see adapters/hosts/server/main.ts.
 */
import { runServerMain } from "../server/main.ts";
import { denoGlobal } from "./deno-api.ts";
import { serveDeno } from "./serve.ts";

const deno = denoGlobal();

await runServerMain({
  env: deno.env.toObject(),
  start: (options) => serveDeno(options),
  exit: (code) => deno.exit(code),
  onSignal: (signal, handler) => deno.addSignalListener(signal, handler),
  banner: `(Deno ${deno.version.deno})`,
});
