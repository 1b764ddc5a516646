/**
 * The NATS benchmark's external consumer, in its own process: a plain `@nats-io/jetstream`
 * durable pull consumer that is not ours, reading the same stream as our workers (another
 * program subscribing to the changes, as docs/nats.md describes). It creates its durable
 * consumer with `deliver_policy: new` (only what is published from now on), reads every message
 * with `consume()`, acks each one, and keeps, per message, the latency from the row's insert
 * (`data.t_ms`, stamped by the database with clock_timestamp(), same machine clock) and whether
 * the message is in the FraiseQL wire format: subject `<prefix>.Order.INSERT`, header
 * `Nats-Msg-Id` equal to the payload's `id`.
 *
 * argv: NATS URL, stream, durable name, subject prefix. Prints `ready` once consuming, then
 * answers commands on stdin: `count` (messages so far), `stats` (JSON: messages, distinct ids,
 * malformed, latency percentiles), `info` (JSON: the consumer's pending and ack-pending counts).
 * On stdin's end it stops, deletes its consumer and exits.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const [url = "", stream = "", durable = "", prefix = ""] = process.argv.slice(2);

const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(stream, {
  durable_name: durable,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.New,
  filter_subject: `${prefix}.>`,
});
const consumer = await jetstream(nc).consumers.get(stream, durable);
const messages = await consumer.consume();

const latencies: number[] = [];
const ids = new Set<string>();
let received = 0;
let malformed = 0;

const reading = (async () => {
  for await (const msg of messages) {
    const now = performance.timeOrigin + performance.now();
    received++;
    try {
      const event = msg.json<{ id?: string; data?: { t_ms?: number } }>();
      const written = Number(event.data?.t_ms);
      if (Number.isFinite(written)) latencies.push(now - written);
      const id = String(event.id);
      ids.add(id);
      if (msg.subject !== `${prefix}.Order.INSERT` || msg.headers?.get("Nats-Msg-Id") !== id) {
        malformed++;
      }
    } catch {
      malformed++;
    }
    msg.ack();
  }
})();

/** Nearest rank on sorted samples. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

process.stdout.write("ready\n");
process.stdin.setEncoding("utf8");
let buffered = "";
process.stdin.on("data", async (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split("\n");
  buffered = lines.pop() ?? "";
  for (const line of lines) {
    if (line === "count") process.stdout.write(`${received}\n`);
    else if (line === "stats") {
      const sorted = latencies.slice().sort((a, b) => a - b);
      const stats = {
        received,
        distinct: ids.size,
        malformed,
        samples: sorted.length,
        p50_ms: percentile(sorted, 50),
        p99_ms: percentile(sorted, 99),
      };
      process.stdout.write(`${JSON.stringify(stats)}\n`);
    } else if (line === "info") {
      const info = await jsm.consumers.info(stream, durable);
      process.stdout.write(
        `${JSON.stringify({ pending: info.num_pending, ack_pending: info.num_ack_pending })}\n`,
      );
    }
  }
});
process.stdin.on("end", async () => {
  messages.stop();
  await reading;
  await jsm.consumers.delete(stream, durable);
  await nc.drain();
  process.exit(0);
});
