export {
  type ApiBindings,
  createWorkersApi,
  type WorkersApi,
  type WorkersApiOptions,
} from "./api.ts";
export {
  stringVars,
  WORKERS_DEFAULT_CONCURRENCY,
  WORKERS_ENV_VARS,
  type WorkersConfig,
  workersConfig,
} from "./config.ts";
export { hyperdriveClient } from "./database.ts";
export { LiveHub, type LiveHubOptions, PING, PONG } from "./live-hub.ts";
export {
  feedPosition,
  type LiveHubBindings,
  type PublishLiveOptions,
  type PublishLiveResult,
  publishLive,
} from "./live-publisher.ts";
export { hubRevoke, hubUpgrade } from "./live-upgrade.ts";
export {
  HUB_ORIGIN,
  hubName,
  hubStub,
  type PublishedBatch,
  type PublishedItem,
  type PublishedRendering,
  SUBSCRIPTION_HEADER,
  toPublishedItems,
  topicTag,
} from "./live-wire.ts";
export { MIGRATIONS } from "./migrations.generated.ts";
export { cachedSchemaCheck, checkSchema, type SchemaStatus } from "./schema.ts";
export { type CountingFetch, countingFetch, workersEnvironment } from "./services.ts";
export {
  runTick,
  type TickBindings,
  type TickOptions,
  type TickResult,
  type TickStop,
} from "./tick.ts";
export { lastTick, reportTick, scheduleTick, Ticker, tickerStub } from "./ticker.ts";
export type {
  DurableObjectNamespace,
  DurableObjectState,
  DurableObjectStub,
  ExecutionContext,
  Hyperdrive,
  ScheduledController,
  WorkersWebSocket,
} from "./types.ts";
