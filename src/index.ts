/**
 * fraiseql-observers core: runtime-agnostic (Web-standard APIs only). Runtimes and drivers live in
 * `adapters/` and are exported from their own entry points.
 */
export * from "./actions/index.ts";
export * from "./api/index.ts";
export * from "./config/index.ts";
export * from "./dsl/index.ts";
export * from "./errors.ts";
export * from "./events/index.ts";
export * from "./executor/index.ts";
export type { JsonObject, JsonPrimitive, JsonValue } from "./json.ts";
export { jsonEquals, stringifyJson } from "./json.ts";
export * from "./live/index.ts";
export * from "./matcher/index.ts";
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
export * from "./store/index.ts";
export * from "./templates/index.ts";
export { type ConfigResult, parseConfig, safeParseConfig } from "./validation.ts";
