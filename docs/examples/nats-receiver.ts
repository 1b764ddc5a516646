// Reads the changes fraiseql-observers publishes to NATS JetStream, with a durable consumer of
// its own. Run: NATS_URL=nats://127.0.0.1:4222 node nats-receiver.ts (or bun, or deno run -A).
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/** FraiseQL's EntityEvent, with the Debezium-style before/after beside it. */
interface EntityEvent {
  id: string; // the change's event id; also the Nats-Msg-Id header
  event_type: "INSERT" | "UPDATE" | "DELETE" | "CUSTOM";
  entity_type: string;
  entity_id: string | null;
  data: Record<string, unknown> | null; // the row after (before, for a DELETE)
  changes: Record<string, { old: unknown; new: unknown }> | null; // UPDATE with a pre-image
  tenant_id: string | null;
  timestamp: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const stream = process.env.OBSERVERS_NATS_STREAM ?? "fraiseql_events";
const durable = "order_audit"; // your own name, never the workers' consumer

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
const jsm = await jetstreamManager(nc);
// Idempotent: the same configuration again keeps the consumer and where it got to.
await jsm.consumers.add(stream, {
  durable_name: durable,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  filter_subject: "fraiseql.mutation.Order.>", // one entity type; fraiseql.mutation.> for all
});
const consumer = await jetstream(nc).consumers.get(stream, durable);
const messages = await consumer.consume();
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => messages.stop());

for await (const msg of messages) {
  const event = msg.json<EntityEvent>();
  // At-least-once: a change can come twice (same event.id). Make your write idempotent on it.
  console.log(`${event.event_type} ${event.entity_type} ${event.entity_id}`, event.after);
  msg.ack(); // only once your work is done: an unacked message comes back after ack_wait
}
await nc.drain();
