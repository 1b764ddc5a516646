export { openServerDatabase, type ServerDatabase } from "../server/database.ts";
export { createServerServices, type ServerServices } from "../server/services.ts";
export { type BunServeOptions, type BunServer, bunGlobal } from "./bun-api.ts";
export { type BunRuntime, type BunRuntimeOptions, createBunRuntime } from "./bun-runtime.ts";
