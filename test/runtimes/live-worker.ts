// Test-only Worker (see test/integration/live-durable-object.test.ts): the live WebSocket
// endpoint and the cron-driven publisher over Hyperdrive, with the hub Durable Object. The full
// Workers entry (API on fetch, runtime on cron) builds on the same adapter functions.
import { hyperdriveClient } from "../../adapters/hosts/workers/database.ts";
import { LiveHub } from "../../adapters/hosts/workers/live-hub.ts";
import { publishLive } from "../../adapters/hosts/workers/live-publisher.ts";
import { hubRevoke, hubUpgrade } from "../../adapters/hosts/workers/live-upgrade.ts";
import type {
  DurableObjectNamespace,
  DurableObjectState,
  ExecutionContext,
  Hyperdrive,
} from "../../adapters/hosts/workers/types.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { createConsoleLogger } from "../../src/ports/logger.ts";
import type { ObserverRuntime } from "../../src/runtime/types.ts";

interface Env {
  HYPERDRIVE: Hyperdrive;
  LIVE_HUB: DurableObjectNamespace;
  OBSERVERS_ADMIN_TOKEN?: string;
}

const logger = createConsoleLogger("info");

/** This test Worker runs no observer runtime (the Workers adapter issue adds the cron one). */
const NO_RUNTIME: ObserverRuntime = {
  start: async () => {},
  stop: async () => {},
  reload: async () => 0,
  wake: () => {},
  health: async () => ({
    running: false,
    observer_count: 0,
    last_checkpoint: null,
    events_processed: 0,
    errors: 0,
    lag: { pending_changes: 0, due_deliveries: 0, oldest_pending_ms: 0 },
  }),
};

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const sql = hyperdriveClient(env.HYPERDRIVE);
    try {
      // The same API as every host; only the WebSocket upgrade is the Worker's own.
      const api = createObserversApi({
        sql,
        runtime: NO_RUNTIME,
        adminToken: env.OBSERVERS_ADMIN_TOKEN ?? null,
        logger,
        clientAddress: (c) => c.req.header("cf-connecting-ip"),
        live: hubUpgrade(env.LIVE_HUB),
        onKeyRevoked: hubRevoke(env.LIVE_HUB),
      });
      return await api.fetch(request, env, ctx);
    } finally {
      ctx.waitUntil(sql.close());
    }
  },

  async scheduled(_controller: unknown, env: Env): Promise<void> {
    const sql = hyperdriveClient(env.HYPERDRIVE);
    try {
      const result = await publishLive(env, sql);
      logger.log("info", "live published", { ...result });
    } finally {
      await sql.close();
    }
  },
};

/** The hub: only delegates to the adapter's handlers. */
export class LiveHubObject {
  private readonly hub: LiveHub;
  constructor(ctx: DurableObjectState, env: Env) {
    this.hub = new LiveHub(ctx, {
      connect: () => hyperdriveClient(env.HYPERDRIVE),
      logger,
      // Short, so that the test of a key revoked without telling the hub runs quickly, and long
      // enough that a close within a second of DELETE /api/keys/{id} is the DELETE's doing.
      keyCheckMs: 3_000,
    });
  }
  fetch(request: Request): Promise<Response> {
    return this.hub.fetch(request);
  }
  alarm(): Promise<void> {
    return this.hub.alarm();
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.hub.webSocketMessage(ws, message);
  }
  webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.hub.webSocketClose(ws, code, reason);
  }
  webSocketError(ws: WebSocket, error: unknown): void {
    this.hub.webSocketError(ws, error);
  }
}
