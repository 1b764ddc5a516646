import { createRoute } from "@hono/zod-openapi";
import { NotFoundError } from "../../errors.ts";
import { quoted } from "../../quoted.ts";
import { pageBounds, toPage } from "../../store/common.ts";
import { type DestinationHealth, resetDestination } from "../../store/destination-health.ts";
import { listDestinations } from "../../store/destination-views.ts";
import { type ApiDependencies, router } from "../context.ts";
import {
  idParam,
  jsonResponse,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
} from "../schemas/common.ts";
import { DestinationSchema } from "../schemas/destinations.ts";

const tags = ["Destinations"];
const IdParam = idParam("id", "The destination's id");

const list = createRoute({
  method: "get",
  path: "/destinations",
  tags,
  summary: "Endpoint health of every destination that has failed",
  description:
    "Circuits are shared by every server on the database. A destination that never failed has no entry (it is healthy). Open or disabled ones come first. A destination may serve several tenants' observers, so a key bound to a tenant sees none (an empty page).",
  request: { query: PageQuery },
  responses: {
    200: jsonResponse(pageOf(DestinationSchema, "DestinationPage"), "A page of destinations"),
    ...problems(),
  },
});

const reset = createRoute({
  method: "post",
  path: "/destinations/{id}/reset",
  tags,
  summary: "Close a destination's circuit and enable it again",
  description:
    "Clears its failures and any disablement; the deliveries it held are due at once. Admin keys without a tenant only: to a key bound to a tenant every destination answers 404.",
  request: { params: IdParam },
  responses: {
    200: jsonResponse(DestinationSchema, "The destination, reset"),
    ...problems({ write: true }),
  },
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function view(health: DestinationHealth) {
  return {
    id: health.id,
    destination: health.destination,
    state: health.state,
    consecutive_failures: health.consecutive_failures,
    opened_at: iso(health.opened_at),
    // A disabled destination is probed no more: no time to show (its row keeps the last one).
    next_probe_at: health.disabled_at === null ? iso(health.next_probe_at) : null,
    probing: health.probe_owner !== null && (health.probe_until ?? 0) > Date.now(),
    failing_since: iso(health.failing_since),
    last_error_code: health.last_error_code,
    last_http_status: health.last_http_status,
    disabled: health.disabled_at !== null,
    disabled_at: iso(health.disabled_at),
    disabled_reason: health.disabled_reason,
  };
}

const notFound = (id: string) => new NotFoundError(`no destination with id ${quoted(id)}`);

/** `/api/observers/destinations` (docs/delivery.md): endpoint health, read and reset. */
export function destinationRoutes(deps: ApiDependencies) {
  const { sql, runtime } = deps;
  return router()
    .openapi(list, async (c) => {
      const { page, limit, offset } = pageBounds(pageRequest(c.req.valid("query")));
      // Shared by every tenant: a tenant-bound key sees none of them.
      if (c.var.principal.tenant !== null) return c.json(toPage([], page, limit, 0), 200);
      const { rows, total } = await listDestinations(sql, limit, offset);
      return c.json(toPage(rows.map(view), page, limit, total), 200);
    })
    .openapi(reset, async (c) => {
      const { id } = c.req.valid("param");
      if (c.var.principal.tenant !== null) throw notFound(id);
      const health = await resetDestination(sql, id);
      if (!health) throw notFound(id);
      runtime.wake();
      return c.json(view(health), 200);
    });
}
