export { hyperdriveClient } from "./database.ts";
export {
  HUB_ORIGIN,
  hubName,
  hubStub,
  LiveHub,
  type LiveHubOptions,
  PING,
  PONG,
  type PublishedBatch,
  type PublishedItem,
  type PublishedRendering,
  SUBSCRIPTION_HEADER,
  toPublishedItems,
  topicTag,
} from "./live-hub.ts";
export {
  feedPosition,
  type LiveHubBindings,
  type PublishLiveOptions,
  type PublishLiveResult,
  publishLive,
} from "./live-publisher.ts";
export { hubUpgrade } from "./live-upgrade.ts";
export type {
  DurableObjectNamespace,
  DurableObjectState,
  DurableObjectStub,
  ExecutionContext,
  Hyperdrive,
  ScheduledController,
  WorkersWebSocket,
} from "./types.ts";
