import type { SqlClient } from "../../../src/ports/sql.ts";
import { createPostgresClient } from "../../drivers/postgres/postgres-client.ts";
import type { Hyperdrive } from "./types.ts";

/**
 * A SQL client over Hyperdrive for one invocation (a request, a cron tick, one catch-up): Workers
 * cannot keep a connection across invocations, and Hyperdrive pools on its side. No LISTEN (the
 * client has none here: Hyperdrive has no session state), no named prepared statements (each
 * client lives for a few statements; Hyperdrive may place them on different origin connections).
 * Close it when done.
 */
export function hyperdriveClient(
  hyperdrive: Hyperdrive,
  options: { max?: number } = {},
): SqlClient {
  const client = createPostgresClient(hyperdrive.connectionString, {
    // Hyperdrive multiplexes; a handful of connections lets Promise.all reads run side by side.
    // Each counts against the invocation's 6 simultaneous outgoing connections (fetch included).
    max: options.max ?? 4,
    prepare: false,
    connectTimeoutSeconds: 10,
  });
  return {
    query: (text, params) => client.query(text, params),
    transaction: (fn) => client.transaction(fn),
    close: () => client.close(),
  };
}
