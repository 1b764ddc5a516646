/**
 * NATS mode of the Bun and Deno servers (`OBSERVERS_TRANSPORT=nats`): the runtime's transport
 * options (created with the factory, synchronously) over a connection opened by `open()` in
 * `start()`, before the runtime starts. `OBSERVERS_ROLE` decides what runs: the bridge
 * (`bridge`), the worker (`worker`), or both (`all`). With `REDIS_URL`, workers check Redis
 * before PostgreSQL for changes already matched.
 */
import type { ServerConfig } from "../../../src/config/server-config.ts";
import { systemClock } from "../../../src/ports/clock.ts";
import type { Logger } from "../../../src/ports/logger.ts";
import type { SqlClient } from "../../../src/ports/sql.ts";
import type { ChangeTransport, TransportHealth } from "../../../src/ports/transport.ts";
import type { RuntimeTransportOptions } from "../../../src/runtime/types.ts";
import { createBridge } from "../../../src/transport/bridge.ts";
import { createRedisIngestDedup } from "../../drivers/redis/redis-ingest-dedup.ts";

/** NATS mode's part of a server: the runtime's options, and the connection's lifetime. */
export interface NatsMode {
  transport: RuntimeTransportOptions;
  /** Connects, creates or updates the stream (and the consumer, for workers). */
  open(): Promise<void>;
  close(): Promise<void>;
}

/** The bridge's cursor and lease name for a stream. */
export const bridgeName = (stream: string) => `nats:${stream}`;

/** NATS mode for `config` (whose `transport` is `nats`, so `natsUrl` is set). */
export function createNatsMode(config: ServerConfig, sql: SqlClient, logger: Logger): NatsMode {
  const url = config.natsUrl;
  if (url === null) throw new Error("NATS_URL is required with OBSERVERS_TRANSPORT=nats");
  const { stream, subjectPrefix, consumer, ackWaitMs, bridgeLeaseMs } = config.nats;
  const works = config.role !== "bridge";
  const bridges = config.role !== "worker";
  let connection: ChangeTransport | null = null;
  const opened = (): ChangeTransport => {
    if (connection === null) throw new Error("NATS is not connected yet");
    return connection;
  };
  const dedup =
    works && config.redisUrl ? createRedisIngestDedup({ url: config.redisUrl }) : undefined;
  const bridge = bridges
    ? createBridge({
        sql,
        publisher: {
          publish: (changes) => opened().publisher.publish(changes),
          maxPayloadBytes: () => connection?.publisher.maxPayloadBytes?.(),
          // Disconnected, the bridge gives its lease up to a bridge that can publish.
          connected: () => connection?.publisher.connected?.() ?? false,
        },
        clock: systemClock,
        logger,
        subjectPrefix,
        name: bridgeName(stream),
        batchSize: config.batchSize,
        pollIntervalMs: config.pollIntervalMs,
        leaseMs: bridgeLeaseMs,
        resumeFrom: config.listenerId,
      })
    : undefined;
  const notConnected: Omit<TransportHealth, "role" | "transport" | "bridge"> = {
    healthy: false,
    reason: "NATS is not connected yet",
    connection: "disconnected",
  };
  return {
    transport: {
      role: config.role,
      stream,
      subjectPrefix,
      ackWaitMs,
      ...(works
        ? { consumer: { consume: (handle, options) => opened().consumer.consume(handle, options) } }
        : {}),
      ...(bridge ? { bridge } : {}),
      ...(dedup ? { dedup } : {}),
      health: async () => (connection ? connection.health() : notConnected),
    },
    async open() {
      // Loaded only in NATS mode: a PostgreSQL-mode server never needs the NATS client.
      const { connectNatsTransport } = await import("../../drivers/nats/index.ts");
      connection = await connectNatsTransport({
        url,
        stream,
        subjectPrefix,
        consumer,
        ackWaitMs,
        logger,
        maxAckPending: Math.max(config.batchSize * 4, 1_000),
        // The stream keeps changes as long as the change log does.
        maxAgeMs: config.retention.changeLogDays * 86_400_000,
      });
      await connection.prepare({ consumer: works });
      logger.log("info", "NATS mode", { role: config.role, stream, subject_prefix: subjectPrefix });
    },
    async close() {
      await connection?.close();
      await dedup?.close();
    },
  };
}
