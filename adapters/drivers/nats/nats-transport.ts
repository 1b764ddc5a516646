/**
 * The NATS JetStream transport (`OBSERVERS_TRANSPORT=nats`), over `@nats-io/jetstream` and the
 * Node transport (which runs on Node, Bun and Deno). It publishes each change awaiting the
 * stream's acknowledgement, with `Nats-Msg-Id` set to the change's event id (the stream drops a
 * republish within its duplicate window), and consumes from one durable pull consumer with
 * explicit acknowledgement, shared by every worker. The connection reconnects forever with a
 * backoff; meanwhile health reports it, publishes fail (the bridge retries, its cursor unmoved)
 * and acknowledgements that cannot be sent let the messages come again (workers recognise them).
 *
 * `NATS_URL` may hold credentials (`nats://user:pass@host`, `nats://token@host`): it is given to
 * the client and appears in no log line, error or health answer.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, headers as natsHeaders } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "../../../src/ports/logger.ts";
import type {
  ChangeConsumer,
  ChangePublisher,
  ChangeTransport,
  IncomingMessage,
  OutgoingChange,
} from "../../../src/ports/transport.ts";

/** Options of `connectNatsTransport`. */
export interface NatsTransportOptions {
  /** `NATS_URL` (never logged). */
  url: string;
  /** `OBSERVERS_NATS_STREAM`. */
  stream: string;
  /** `OBSERVERS_NATS_SUBJECT_PREFIX`: the stream takes `<prefix>.>`. */
  subjectPrefix: string;
  /** `OBSERVERS_NATS_CONSUMER`: the durable consumer workers share. */
  consumer: string;
  logger: Logger;
  /** How long a delivered message may stay unacknowledged before it is delivered again (30 000 ms). */
  ackWaitMs?: number;
  /** Unacknowledged messages the consumer hands out at most, across workers (default 2 000). */
  maxAckPending?: number;
  /** The stream's duplicate window (default 120 000 ms): a republish within it is dropped. */
  duplicateWindowMs?: number;
  /**
   * How long the stream keeps messages, when this process creates it (default 7 days; an existing
   * stream's limits are left as they are).
   */
  maxAgeMs?: number;
  /** How long a publish waits for the stream's acknowledgement (default 5 000 ms). */
  publishTimeoutMs?: number;
  /** Shown in the server's connection list. */
  name?: string;
}

/** The stream's duplicate window by default: JetStream's own default. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
export const DEFAULT_ACK_WAIT_MS = 30_000;

type ConnectionState = "connected" | "reconnecting" | "disconnected" | "closed";

/** What an error says, without any URL in it. */
function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi, "[url]");
}

/**
 * The client's options for `NATS_URL`: `nats://host:port` or `tls://host:port` (TLS required),
 * with `user:pass@` (user and password) or `token@` (a token). The client reads neither the
 * scheme nor credentials from a URL itself.
 */
function connectionOptions(url: string) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("NATS_URL is not a URL");
  }
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  return {
    servers: parsed.port ? parsed.host : `${parsed.host}:4222`,
    ...(parsed.protocol === "tls:" ? { tls: {} } : {}),
    ...(user && pass ? { user, pass } : user ? { token: user } : {}),
  };
}

/**
 * Connects to NATS (failing with a clear error, naming `NATS_URL` but not quoting it, when the
 * server cannot be reached) and returns the transport.
 */
export async function connectNatsTransport(
  options: NatsTransportOptions,
): Promise<ChangeTransport> {
  const { logger } = options;
  const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const maxAckPending = options.maxAckPending ?? 2_000;
  const duplicateWindowMs = options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...connectionOptions(options.url),
      name: options.name ?? "fraiseql-observers",
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      reconnectJitter: 250,
      pingInterval: 5_000,
      maxPingOut: 2,
    });
  } catch (error: unknown) {
    throw new Error(`could not connect to NATS at NATS_URL: ${reasonOf(error)}`, { cause: error });
  }
  let state: ConnectionState = "connected";
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        state = "disconnected";
        logger.log("warn", "NATS connection lost; reconnecting");
      } else if (status.type === "reconnecting") {
        state = "reconnecting";
      } else if (status.type === "reconnect") {
        state = "connected";
        logger.log("info", "NATS connection restored");
      } else if (status.type === "close") {
        state = "closed";
      }
    }
  })().catch(() => {});
  void nc.closed().then(() => {
    state = "closed";
  });

  const js: JetStreamClient = jetstream(nc, { timeout: publishTimeoutMs });
  const jsm: JetStreamManager = await jetstreamManager(nc, { timeout: 5_000 });
  const subjects = `${options.subjectPrefix}.>`;

  async function ensureStream(): Promise<void> {
    let info: Awaited<ReturnType<typeof jsm.streams.info>> | null = null;
    try {
      info = await jsm.streams.info(options.stream);
    } catch {
      info = null;
    }
    if (info === null) {
      try {
        await jsm.streams.add({
          name: options.stream,
          subjects: [subjects],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          duplicate_window: nanos(duplicateWindowMs),
          max_age: nanos(options.maxAgeMs ?? 7 * 86_400_000),
        });
        logger.log("info", "NATS stream created", { stream: options.stream, subjects });
        return;
      } catch (error: unknown) {
        // Another process created it meanwhile: read it below.
        info = await jsm.streams.info(options.stream).catch(() => {
          throw new Error(`could not create NATS stream ${options.stream}: ${reasonOf(error)}`);
        });
      }
    }
    const config = info.config;
    const missingSubject = !(config.subjects ?? []).includes(subjects);
    const shortWindow = (config.duplicate_window ?? 0) < nanos(duplicateWindowMs);
    if (missingSubject || shortWindow) {
      await jsm.streams
        .update(options.stream, {
          subjects: missingSubject ? [...(config.subjects ?? []), subjects] : config.subjects,
          duplicate_window: shortWindow ? nanos(duplicateWindowMs) : config.duplicate_window,
        })
        .catch((error: unknown) => {
          const what = missingSubject
            ? `add subjects ${subjects} to`
            : "lengthen the duplicate window of";
          throw new Error(`could not ${what} NATS stream ${options.stream}: ${reasonOf(error)}`);
        });
      logger.log("info", "NATS stream updated", { stream: options.stream });
    }
  }

  async function ensureConsumer(): Promise<void> {
    const wanted = {
      durable_name: options.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: maxAckPending,
      max_deliver: -1,
      filter_subject: subjects,
    };
    try {
      const info = await jsm.consumers.info(options.stream, options.consumer);
      if (
        info.config.ack_wait !== wanted.ack_wait ||
        info.config.max_ack_pending !== wanted.max_ack_pending
      ) {
        // The consumer is shared: a worker configured differently changes it for every worker.
        logger.log("warn", "NATS consumer settings differ from this worker's; changing them", {
          stream: options.stream,
          consumer: options.consumer,
          ack_wait_ms_was: Math.round((info.config.ack_wait ?? 0) / 1e6),
          ack_wait_ms_now: ackWaitMs,
          max_ack_pending_was: info.config.max_ack_pending ?? null,
          max_ack_pending_now: maxAckPending,
        });
        await jsm.consumers.update(options.stream, options.consumer, {
          ack_wait: wanted.ack_wait,
          max_ack_pending: wanted.max_ack_pending,
        });
      }
      return;
    } catch {}
    try {
      await jsm.consumers.add(options.stream, wanted);
      logger.log("info", "NATS consumer created", {
        stream: options.stream,
        consumer: options.consumer,
      });
    } catch (error: unknown) {
      // Another worker created it meanwhile.
      await jsm.consumers.info(options.stream, options.consumer).catch(() => {
        throw new Error(
          `could not create NATS consumer ${options.consumer} on ${options.stream}: ${reasonOf(error)}`,
        );
      });
    }
  }

  const publisher: ChangePublisher = {
    maxPayloadBytes: () => nc.info?.max_payload,
    connected: () => state === "connected",
    async publish(changes: readonly OutgoingChange[]) {
      const encoder = new TextEncoder();
      // Sent in order on one connection; each resolves on the stream's acknowledgement.
      await Promise.all(
        changes.map((change) => {
          const h = natsHeaders();
          for (const [name, value] of Object.entries(change.headers)) h.set(name, value);
          return js.publish(change.subject, encoder.encode(change.payload), {
            msgID: change.messageId,
            headers: h,
            timeout: publishTimeoutMs,
          });
        }),
      ).catch(async (error: unknown) => {
        // The stream deleted (an operator, a reset): put it back for the bridge's next try, as
        // at startup; the changes wait in the change log meanwhile.
        await ensureStream().catch(() => undefined);
        throw new Error(`NATS did not acknowledge a publish: ${reasonOf(error)}`, {
          cause: error,
        });
      });
    },
  };

  const consumer: ChangeConsumer = {
    async consume(handle, { maxMessages, signal, room }) {
      let failures = 0;
      while (!signal.aborted) {
        let messages: ConsumerMessages | null = null;
        const abort = () => void messages?.stop();
        try {
          // After a failure (the consumer deleted by an operator, the stream recreated): put it
          // back, or the workers would wait forever on a consumer no one feeds.
          if (failures > 0) await ensureConsumer();
          const c = await js.consumers.get(options.stream, options.consumer);
          // End (and so re-create) when the consumer disappears, instead of waiting for it.
          messages = await c.consume({
            max_messages: maxMessages,
            abort_on_missing_resource: true,
          });
          signal.addEventListener("abort", abort, { once: true });
          // Stopped while connecting: the listener came too late to hear it.
          if (signal.aborted) abort();
          await drainInBatches(messages, handle, maxMessages, room, signal);
          failures = 0;
        } catch (error: unknown) {
          if (signal.aborted) break;
          failures++;
          logger.log("warn", "NATS consumer failed; retrying", { error: reasonOf(error) });
          await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), signal);
        } finally {
          signal.removeEventListener("abort", abort);
        }
      }
    },
  };

  return {
    kind: "nats",
    publisher,
    consumer,
    async prepare({ consumer: withConsumer }) {
      await ensureStream();
      if (withConsumer) await ensureConsumer();
    },
    async health() {
      if (state !== "connected") {
        return {
          healthy: false,
          reason:
            state === "closed" ? "NATS connection is closed" : "NATS is unreachable; reconnecting",
          connection: state,
        };
      }
      try {
        const [stream, consumerInfo] = await Promise.all([
          jsm.streams.info(options.stream),
          jsm.consumers.info(options.stream, options.consumer).catch(() => null),
        ]);
        return {
          healthy: true,
          reason: null,
          connection: state,
          stream: {
            name: options.stream,
            messages: stream.state.messages,
            first_sequence: stream.state.first_seq,
            last_sequence: stream.state.last_seq,
          },
          ...(consumerInfo
            ? {
                consumer: {
                  name: options.consumer,
                  num_pending: consumerInfo.num_pending,
                  num_ack_pending: consumerInfo.num_ack_pending,
                  num_redelivered: consumerInfo.num_redelivered,
                },
              }
            : {}),
        };
      } catch (error: unknown) {
        return {
          healthy: false,
          reason: `JetStream does not answer: ${reasonOf(error)}`,
          connection: state,
        };
      }
    },
    async close() {
      try {
        // Sends what is buffered (acknowledgements included) before closing.
        await Promise.race([nc.drain(), sleep(5_000)]);
      } catch {}
      if (!nc.isClosed()) await nc.close().catch(() => {});
    },
  };
}

/**
 * Hands consumed messages to `handle` in batches of up to `max`, one batch at a time: what
 * arrives while a batch is handled forms the next one. Waits for room before each.
 */
async function drainInBatches(
  messages: ConsumerMessages,
  handle: (batch: IncomingMessage[]) => Promise<void>,
  max: number,
  room: () => number,
  signal: AbortSignal,
): Promise<void> {
  let buffer: JsMsg[] = [];
  let flushing: Promise<void> | null = null;
  const flush = async () => {
    while (buffer.length > 0) {
      while (room() <= 0 && !signal.aborted) await sleep(20, signal);
      const batch = buffer.slice(0, max);
      buffer = buffer.slice(batch.length);
      await handle(batch.map(incoming));
    }
    flushing = null;
  };
  for await (const message of messages) {
    buffer.push(message);
    flushing ??= Promise.resolve().then(flush);
    if (buffer.length >= max * 2) await flushing;
  }
  await flushing;
}

function incoming(message: JsMsg): IncomingMessage {
  return {
    subject: message.subject,
    payload: message.data,
    sequence: message.seq,
    redelivered: message.redelivered,
    header(name) {
      const value = message.headers?.get(name);
      return value ? value : undefined;
    },
    headers() {
      const all: Record<string, string[]> = {};
      if (message.headers) for (const [name, values] of message.headers) all[name] = values;
      return all;
    },
    ack: () => message.ack(),
    nak: (delayMs) => message.nak(delayMs),
    term: () => message.term(),
    working: () => message.working(),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
