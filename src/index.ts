/**
 * fraiseql-observers core: runtime-agnostic (Web-standard APIs only). Runtimes and drivers live in
 * `adapters/` and are exported from their own entry points.
 */
export * from "./dsl/index.ts";
export * from "./errors.ts";
export * from "./events/index.ts";
export type { JsonObject, JsonPrimitive, JsonValue } from "./json.ts";
export { jsonEquals } from "./json.ts";
export * from "./matcher/index.ts";
