export type {
  JobContext,
  JobHandler,
  JobHandlerOptions,
  Jobs,
} from "../../../src/jobs/runner.ts";
export type {
  ObserversOptions,
  StartOptions,
  StopOptions,
} from "../server/server-observers.ts";
export type { DenoServeHandlerInfo } from "./deno-api.ts";
export { createObservers, type DenoObservers } from "./observers.ts";
export { type ServeDenoOptions, serveDeno } from "./serve.ts";
