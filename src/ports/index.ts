export type { CacheStore } from "./cache.ts";
export { type Clock, systemClock } from "./clock.ts";
export type { EmailMessage, EmailReceipt, EmailTransport } from "./email.ts";
export {
  JOB_QUEUE_KINDS,
  type JobQueue,
  type JobQueueKind,
  type JobQueues,
  type JobRequest,
  type JobTargetIssue,
} from "./jobs.ts";
export {
  createConsoleLogger,
  LOG_LEVELS,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./logger.ts";
export type { HostResolver } from "./resolver.ts";
export {
  SOURCE_KINDS,
  type SourceChange,
  SourceError,
  type SourceKind,
  type SourceReader,
  type SourceReaderFactory,
  type SourceReaderOptions,
  type SourceStatus,
  type SourceTable,
  type SourceTransaction,
} from "./source.ts";
export type { ListenHandlers, SqlClient, SqlExecutor, SqlListener } from "./sql.ts";
export type {
  ChangeConsumer,
  ChangePublisher,
  ChangeTransport,
  IncomingMessage,
  IngestDedup,
  OutgoingChange,
  TransportHealth,
} from "./transport.ts";
