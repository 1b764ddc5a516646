/**
 * `npm run server:deno`: the observer runtime and its HTTP API on Deno, configured by environment
 * variables (see `SERVER_ENV_VARS`) like the Bun server. Exit codes: see adapters/hosts/server/main.ts.
 */
import { runServerMain } from "../server/main.ts";
import { denoGlobal } from "./deno-api.ts";
import { createDenoRuntime } from "./deno-runtime.ts";

const deno = denoGlobal();

await runServerMain({
  env: deno.env.toObject(),
  start: (options) => createDenoRuntime(options),
  exit: (code) => deno.exit(code),
  onSignal: (signal, handler) => deno.addSignalListener(signal, handler),
  // Deno ends the process on an unhandled rejection unless a listener prevents it.
  onUnhandledRejection: (handler) =>
    globalThis.addEventListener("unhandledrejection", (event) => {
      if (handler(event.reason)) event.preventDefault();
    }),
  banner: `(Deno ${deno.version.deno})`,
});
