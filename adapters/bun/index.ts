export { type BunServeOptions, type BunServer, bunGlobal } from "./bun-api.ts";
export { type BunRuntime, type BunRuntimeOptions, createBunRuntime } from "./bun-runtime.ts";
export { openServerDatabase, type ServerDatabase } from "./database.ts";
export { type BunServices, createBunServices } from "./services.ts";
