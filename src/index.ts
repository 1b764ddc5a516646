/**
 * fraiseql-observers core (the package's `.` entry): what a library user needs to reason about
 * changes and run observers, runtime-agnostic (Web-standard APIs only). The HTTP API is the
 * `./http` entry; drivers and hosts have their own entries (`./postgres`, `./embedded`, `./bun`,
 * `./deno`, `./workers`). The store (SQL behind the runtime and the API) is internal: a change to
 * its functions is not a change to the public contract. test/unit/public-surface.test.ts pins what
 * every entry exports.
 */
export * from "./actions/index.ts";
export * from "./config/index.ts";
export * from "./dsl/index.ts";
export * from "./errors.ts";
export * from "./events/index.ts";
export * from "./executor/index.ts";
export type { JsonObject, JsonPrimitive, JsonValue } from "./json.ts";
export { jsonEquals, stringifyJson } from "./json.ts";
export * from "./matcher/index.ts";
// What a custom action's run function needs to reach the network as the built-ins do: the SSRF
// guard and bounded, redirect-checked requests.
export {
  checkResolvedTarget,
  checkTarget,
  expectSuccess,
  type HttpRequest,
  type HttpResponse,
  sendHttp,
} from "./net/index.ts";
export * from "./observers/index.ts";
export * from "./ports/index.ts";
export * from "./runtime/index.ts";
export * from "./templates/index.ts";
export { type ConfigResult, parseConfig, safeParseConfig } from "./validation.ts";
