export { createObserverRuntime } from "./runtime.ts";
export type {
  ObserverRuntime,
  ObserverRuntimeOptions,
  RetentionOptions,
  RuntimeHealth,
  RuntimeLag,
} from "./types.ts";
export { NOTIFY_CHANNEL } from "./wakeups.ts";
