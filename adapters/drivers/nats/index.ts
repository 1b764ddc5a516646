export {
  connectNatsTransport,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  type NatsTransportOptions,
} from "./nats-transport.ts";
