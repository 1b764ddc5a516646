export {
  decodeCursor,
  encodeCursor,
  isAfter,
  type LiveCursor,
  START,
  type StreamPosition,
} from "./cursor.ts";
export {
  createLiveFeed,
  type LiveBatch,
  type LiveFeed,
  type LiveFeedOptions,
  type LiveItem,
  laterCursor,
  liveItems,
  reached,
  readLiveBatch,
} from "./feed.ts";
export {
  createLiveHub,
  GOING_AWAY_CLOSE,
  type LiveConnection,
  type LiveHub,
  type LiveHubOptions,
  type LiveTransport,
  MAX_PENDING,
  SLOW_CONSUMER_CLOSE,
} from "./hub.ts";
export type {
  ChangeMessage,
  ExecutionMessage,
  LiveMessage,
  PayloadMode,
} from "./messages.ts";
export { replay } from "./replay.ts";
export {
  type LiveSubscription,
  parseSubscription,
  SUBSCRIPTION_PARAMETERS,
} from "./subscription.ts";
export {
  createTopicTransport,
  type TopicTransportOptions,
  type WebSocketLike,
} from "./topic-transport.ts";
export { changeTopic, executionTopic } from "./topics.ts";
