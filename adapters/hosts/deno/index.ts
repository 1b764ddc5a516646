export {
  type DenoGlobal,
  type DenoHttpServer,
  type DenoServeHandlerInfo,
  type DenoServeOptions,
  denoGlobal,
} from "./deno-api.ts";
export { createDenoRuntime, type DenoRuntime, type DenoRuntimeOptions } from "./deno-runtime.ts";
export { createDenoLiveHub, type DenoLiveHub, type DenoLiveHubOptions } from "./live-hub.ts";
