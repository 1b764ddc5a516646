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
export type { BunServeOptions, BunServer } from "./bun-api.ts";
export { type BunObservers, createObservers } from "./observers.ts";
export { type ServeBunOptions, serveBun } from "./serve.ts";
