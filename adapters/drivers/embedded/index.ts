export {
  createEmbeddedClient,
  type EmbeddedClient,
  type EmbeddedClientOptions,
} from "./embedded-client.ts";
export {
  type EmbeddedSocket,
  type EmbeddedSocketOptions,
  startEmbeddedSocket,
} from "./embedded-socket.ts";
