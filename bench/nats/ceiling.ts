/**
 * JetStream alone on this machine, with no PostgreSQL and no observers: how fast one client
 * publishes change-sized messages (an EntityEvent of a `bench_orders` row, `Nats-Msg-Id` set) in
 * pipelined batches, as the bridge does, and how fast one durable pull consumer reads and acks
 * them, as a worker does. The ceiling the NATS hops put under the pipeline. A stream of its own
 * (`bench_ceiling`, subjects `bench.ceiling.>`), deleted afterwards; the batch published twice
 * checks the duplicate window drops every republished id.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { fail } from "../support/fail.ts";
import { round } from "../support/report.ts";

export interface Ceiling {
  messages: number;
  batch: number;
  payload_bytes: number;
  publish_per_sec: number;
  consume_per_sec: number;
  /** Republished ids the stream dropped (must be every one of the last batch). */
  duplicates_dropped: number;
}

const STREAM = "bench_ceiling";

function payload(i: number): string {
  const at = new Date().toISOString();
  const row = { id: i, t_ms: Date.now(), status: "new" };
  return JSON.stringify({
    id: crypto.randomUUID(),
    event_type: "INSERT",
    entity_type: "Order",
    entity_id: String(i),
    data: row,
    changes: null,
    user_id: null,
    tenant_id: null,
    timestamp: at,
    duration_ms: null,
    seq: i,
    actor_type: null,
    acting_for: null,
    schema_version: null,
    cdc_source: null,
    op: "c",
    before: null,
    after: row,
    source: { table: "bench_orders", schema: "public", ts_ms: Date.now(), txId: 1000 + i },
    transaction_id: String(1000 + i),
    trace_id: null,
  });
}

export async function jetStreamCeiling(
  nc: NatsConnection,
  jsm: JetStreamManager,
  messages: number,
  batch: number,
): Promise<Ceiling> {
  await jsm.streams.add({ name: STREAM, subjects: ["bench.ceiling.>"] });
  try {
    const js = jetstream(nc);
    const encoder = new TextEncoder();
    const bodies = Array.from({ length: messages }, (_, i) => encoder.encode(payload(i + 1)));
    const ids = bodies.map(() => crypto.randomUUID());
    const publishBatch = (from: number, to: number) =>
      Promise.all(
        bodies.slice(from, to).map((body, k) => {
          const h = headers();
          h.set("Fraiseql-Change-Log-Id", String(from + k + 1));
          return js.publish("bench.ceiling.Order.INSERT", body, {
            msgID: ids[from + k] ?? "",
            headers: h,
          });
        }),
      );
    let started = performance.now();
    for (let from = 0; from < messages; from += batch) {
      await publishBatch(from, Math.min(messages, from + batch));
    }
    const publishSeconds = (performance.now() - started) / 1000;
    const again = await publishBatch(Math.max(0, messages - batch), messages);
    const dropped = again.filter((ack) => ack.duplicate).length;
    const stored = (await jsm.streams.info(STREAM)).state.messages;
    if (stored !== messages) fail(`JetStream ceiling: ${stored} messages stored for ${messages}`);

    await jsm.consumers.add(STREAM, {
      durable_name: "bench_ceiling",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 2_000,
    });
    const consumer = await js.consumers.get(STREAM, "bench_ceiling");
    started = performance.now();
    const iterator = await consumer.consume({ max_messages: batch });
    let read = 0;
    for await (const msg of iterator) {
      JSON.parse(new TextDecoder().decode(msg.data));
      msg.ack();
      if (++read >= messages) break;
    }
    const consumeSeconds = (performance.now() - started) / 1000;
    return {
      messages,
      batch,
      payload_bytes: bodies[0]?.length ?? 0,
      publish_per_sec: round(messages / publishSeconds),
      consume_per_sec: round(messages / consumeSeconds),
      duplicates_dropped: dropped,
    };
  } finally {
    await jsm.streams.delete(STREAM);
  }
}
