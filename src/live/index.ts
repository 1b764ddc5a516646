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
export { changeTopic, executionTopic } from "./topics.ts";
