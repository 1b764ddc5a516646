/**
 * Setting up an existing stream: when this process cannot add its subjects to a stream that
 * already exists (another stream holds them), startup fails with an error naming the stream and
 * what it tried, not JetStream's bare reason.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsTransport } from "../../adapters/drivers/nats/nats-transport.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { type NatsServer, startNatsServer } from "../support/nats-server.ts";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.close();
});

describe("NATS stream setup", () => {
  it("names the stream when its subjects cannot be updated", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "holder", subjects: ["taken.>"] });
    await jsm.streams.add({ name: "mine", subjects: ["elsewhere.>"] });
    await nc.close();
    const transport = await connectNatsTransport({
      url: nats.url,
      stream: "mine",
      subjectPrefix: "taken",
      consumer: "workers",
      logger: silentLogger,
    });
    try {
      await expect(transport.prepare({ consumer: true })).rejects.toThrow(
        /could not add subjects taken\.> to NATS stream mine: .*overlap/,
      );
    } finally {
      await transport.close();
    }
  });
});
