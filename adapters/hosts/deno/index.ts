export type {
  ObserversOptions,
  StartOptions,
  StopOptions,
} from "../server/server-observers.ts";
export {
  type DenoGlobal,
  type DenoHttpServer,
  type DenoServeHandlerInfo,
  type DenoServeOptions,
  denoGlobal,
} from "./deno-api.ts";
export { createDenoLiveHub, type DenoLiveHub, type DenoLiveHubOptions } from "./live-hub.ts";
export { createObservers, type DenoObservers } from "./observers.ts";
export { type ServeDenoOptions, serveDeno } from "./serve.ts";
