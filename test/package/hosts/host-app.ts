// The part of the Bun and Deno host apps that is the same on both, as a team would write it with
// the installed package: its own Hono app with its own routes (one of them under `/api`, and
// `POST /hooks`, where the host receives webhooks), the observers' API mounted at `/` and at
// `/plugin`, one action type of its own, and its own postgres.js pool. `exercise` serves the app
// on a free port (the runtime's `serve`), creates an observer through the mounted API whose
// webhook targets the host's own `/hooks`, makes a change in a table the host tracks, and reports
// what arrived. hono, postgres and valibot are the host's own dependencies (its package.json).
import { defineAction } from "fraiseql-observers";
import type { ObserversApi } from "fraiseql-observers/http";
import { Hono } from "hono";
import type postgres from "postgres";
import * as v from "valibot";

/**
 * What the host app needs of `createObservers(...)`: Bun's `BunObservers` and Deno's
 * `DenoObservers` both are one, as they come.
 */
export interface Observers {
  api: ObserversApi;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The host's HTTP server, however its runtime serves. */
export interface Served {
  /** http://127.0.0.1:<port> */
  url: string;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN = "host-admin-token-0123456789abcdef";

/** What the observers are told (the factory's `env`): the server's variable names. */
export const OBSERVERS_ENV = {
  OBSERVERS_ADMIN_TOKEN: ADMIN_TOKEN,
  // The webhook goes to the host itself, on 127.0.0.1.
  OBSERVERS_ALLOW_PRIVATE_TARGETS: "true",
  OBSERVERS_POLL_INTERVAL_MS: "250",
  LOG_LEVEL: "warn",
};

/** Every run of the host's own action type, in this process. */
const audited: { label: string; entity_type: string; event_type: string }[] = [];

/** The host's own action type: records what it was asked to do. */
export const hostAudit = defineAction({
  type: "host_audit",
  schema: v.strictObject({
    type: v.literal("host_audit"),
    label: v.pipe(v.string(), v.minLength(1)),
  }),
  async run({ config, event }) {
    audited.push({
      label: config.label,
      entity_type: event.entity_type,
      event_type: event.event_type,
    });
    return { message: `audited ${config.label}` };
  },
});

/** Waits until `done()` holds, at most `ms`; whether it did. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** A live subscriber on the host's port: the messages' types, and the close code once closed. */
function subscribe(url: string) {
  const messages: { type: string; entity_type?: string; event_type?: string }[] = [];
  const live = { messages, closeCode: undefined as number | undefined };
  const socket = new WebSocket(url);
  socket.onmessage = (message) => {
    messages.push(JSON.parse(String(message.data)) as (typeof messages)[number]);
  };
  socket.onclose = (close) => {
    live.closeCode = close.code;
  };
  return live;
}

/**
 * Serves the host app, runs the observers through it, and stops them; what the host saw, to print
 * as JSON. `sql` is the host's own pool: its routes and its table use it, and it stays open.
 */
export async function exercise(
  observers: Observers,
  sql: postgres.Sql,
  serve: (fetch: Hono["fetch"]) => Served | Promise<Served>,
): Promise<Record<string, unknown>> {
  const hooks: { path: string; body: Record<string, unknown> }[] = [];
  const host = new Hono();
  host.get("/", (c) => c.text("host home"));
  host.get("/api/hello", (c) => c.text("host route"));
  host.post("/hooks", async (c) => {
    hooks.push({ path: c.req.path, body: await c.req.json() });
    return c.body(null, 204);
  });
  host.route("/", observers.api);
  host.route("/plugin", observers.api);

  const served = await serve(host.fetch);
  const { url } = served;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  const status = async (path: string, init?: RequestInit) =>
    (await fetch(`${url}${path}`, init)).status;
  try {
    await observers.start();
    // The host's table, tracked with the capture function the migrations installed.
    await sql`CREATE TABLE public.orders (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, status text NOT NULL)`;
    await sql`SELECT core.fn_track_table('public.orders', 'Order')`;

    const home = await fetch(`${url}/`);
    const hello = await fetch(`${url}/api/hello`);
    const document = (await (await fetch(`${url}/plugin/api/observers/openapi.json`)).json()) as {
      components?: { schemas?: Record<string, unknown> };
    };
    const created = await fetch(`${url}/plugin/api/observers`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        name: "host-orders",
        entity_type: "Order",
        event_type: "INSERT",
        actions: [
          { type: "webhook", url: `${url}/hooks` },
          { type: "host_audit", label: "new order" },
        ],
      }),
    });
    const saved = (await created.json()) as { warnings?: unknown };
    const refused = await fetch(`${url}/api/observers`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        name: "bad-audit",
        actions: [{ type: "host_audit", label: "" }],
      }),
    });

    const wsUrl = `${url.replace(/^http/, "ws")}/plugin/api/observers/ws?entity_type=Order&token=${ADMIN_TOKEN}`;
    const live = subscribe(wsUrl);
    const ready = await until(() => live.messages.some((m) => m.type === "ready"), 10_000);

    const [order] = await sql<{ id: string }[]>`
      INSERT INTO public.orders (status) VALUES ('from-host') RETURNING id::text`;
    await until(
      () =>
        hooks.length > 0 && audited.length > 0 && live.messages.some((m) => m.type === "change"),
      20_000,
    );
    const hook = hooks[0];
    const change = live.messages.find((m) => m.type === "change");
    const seen = {
      hostHome: `${home.status} ${await home.text()}`,
      hostApi: `${hello.status} ${await hello.text()}`,
      unauthenticated: await status("/api/observers"),
      list: await status("/api/observers", { headers: auth }),
      prefixed: await status("/plugin/api/observers", { headers: auth }),
      docs: await status("/plugin/api/observers/docs"),
      console: await status("/plugin/api/observers/console"),
      documented: Object.keys(document.components?.schemas ?? {}).includes("ActionHostAudit"),
      created: created.status,
      warnings: saved.warnings,
      refused: refused.status,
      webhook: hook && {
        path: hook.path,
        entity_type: hook.body.entity_type,
        event_type: hook.body.event_type,
        sameRow: String(hook.body.entity_id) === order?.id,
        status: (hook.body.after as { status?: unknown } | null)?.status,
      },
      audited,
      live: {
        ready,
        change: change && { entity_type: change.entity_type, event_type: change.event_type },
      },
    };
    await observers.stop();
    await until(() => live.closeCode !== undefined, 5_000);
    // stop() leaves the host's pool open.
    const [count] = await sql<
      { orders: number }[]
    >`SELECT count(*)::int AS orders FROM public.orders`;
    return { ...seen, liveClosed: live.closeCode, afterStop: count?.orders };
  } finally {
    await observers.stop();
    await served.stop();
    await sql.end();
  }
}
