import { createRoute, z } from "@hono/zod-openapi";
import { defaultActionRegistry } from "../../actions/registry.ts";
import { parseInstant } from "../../actions/timing.ts";
import type { ActionRegistry } from "../../actions/types.ts";
import { NotFoundError } from "../../errors.ts";
import type { JsonValue } from "../../json.ts";
import { quoted } from "../../quoted.ts";
import { heldForObserver } from "../../store/destination-views.ts";
import type { Observer } from "../../store/observer-json.ts";
import {
  createObserver,
  deleteObserver,
  getObserver,
  listObservers,
  readLive,
  setObserverEnabled,
  updateObserver,
} from "../../store/observers.ts";
import { scheduleOneOff } from "../../store/schedules.ts";
import { callerScope, tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import { checkJobActions } from "../job-checks.ts";
import { type ObserverWarning, observerWarnings } from "../observer-warnings.ts";
import {
  jsonBody,
  jsonResponse,
  ObserverIdParam,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
  QueryBoolean,
} from "../schemas/common.ts";
import {
  type ObserverBodies,
  ObserverDetailSchema,
  ObserverSchema,
  observerBodies,
} from "../schemas/observers.ts";
import { OneOffBodySchema, OneOffEventSchema } from "../schemas/schedule.ts";
import { ObserverSavedSchema } from "../schemas/warnings.ts";

const tags = ["Observers"];
const ObserverPage = pageOf(ObserverSchema, "ObserverPage");

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List observers",
  description: "Ordered by priority, then creation. A tenant-bound key lists its tenant's only.",
  request: {
    query: PageQuery.extend({
      entity_type: z.string().optional(),
      event_type: z
        .string()
        .optional()
        .openapi({ description: "INSERT, UPDATE, DELETE, CUSTOM or SCHEDULE" }),
      enabled: QueryBoolean,
      include_deleted: QueryBoolean.openapi({ description: "Include soft-deleted observers" }),
    }),
  },
  responses: { 200: jsonResponse(ObserverPage, "A page of observers"), ...problems() },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an observer",
  request: { params: ObserverIdParam },
  responses: {
    200: jsonResponse(
      ObserverDetailSchema,
      "The observer, and its deliveries held for a failing or disabled destination (`held`)",
    ),
    ...problems(),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete an observer (soft delete)",
  request: { params: ObserverIdParam },
  responses: { 204: { description: "Deleted" }, ...problems({ write: true }) },
});

const createRouteFor = (bodies: ObserverBodies) =>
  createRoute({
    method: "post",
    path: "/",
    tags,
    summary: "Create an observer",
    description:
      "The condition and every action are validated: a 400 lists each issue (conditions with positions). Actions the server's policy refuses (an environment variable not open to them, a base_url that would receive one, what a tenant-bound key may not configure) answer 422 with the rule's code. Names are unique per tenant among live observers (409). A tenant may have at most `OBSERVERS_MAX_OBSERVERS_PER_TENANT` live observers (422 `OBSERVER_LIMIT`) and an observer at most `OBSERVERS_MAX_ACTIONS_PER_OBSERVER` actions (422 `ACTION_LIMIT`).",
    request: { body: jsonBody(bodies.create) },
    responses: {
      201: jsonResponse(
        ObserverSavedSchema,
        "The observer, secrets redacted, and what it will run into (`warnings`)",
      ),
      ...problems({ write: true, extra: [409, 422] }),
    },
  });

const patchRouteFor = (bodies: ObserverBodies) =>
  createRoute({
    method: "patch",
    path: "/{id}",
    tags,
    summary: "Update an observer",
    description:
      "Any subset of the fields; the result is validated as a whole, against the action policy of the observer's tenant too (422). Sent `actions` replace the stored ones; left out, the stored ones (secrets included) stay.",
    request: { params: ObserverIdParam, body: jsonBody(bodies.patch) },
    responses: {
      200: jsonResponse(
        ObserverSavedSchema,
        "The updated observer, and what it will run into (`warnings`)",
      ),
      ...problems({ write: true, extra: [409, 422] }),
    },
  });

function toggle(enabled: boolean) {
  return createRoute({
    method: "post",
    path: enabled ? "/{id}/enable" : "/{id}/disable",
    tags,
    summary: enabled ? "Enable an observer" : "Disable an observer",
    request: { params: ObserverIdParam },
    responses: { 200: jsonResponse(ObserverSchema, "The observer"), ...problems({ write: true }) },
  });
}

const scheduleOne = createRoute({
  method: "post",
  path: "/{id}/schedule",
  tags,
  summary: "Schedule a one-off event",
  description:
    "Runs the observer's actions once at `run_at` with `payload` (Hasura's one-off scheduled triggers): the actions see a SCHEDULE event whose `after` is `{scheduled_at, payload}` (docs/time.md). Each action's `delay_ms` applies on top. The deliveries wait in the table until then, like any other; a tenant-bound key schedules only its tenant's observers. A disabled observer answers 409 `CONFLICT` (nothing is scheduled); an event whose observer is disabled by its instant is skipped (logged `skipped` with error code `OBSERVER_DISABLED`).",
  request: { params: ObserverIdParam, body: jsonBody(OneOffBodySchema) },
  responses: {
    201: jsonResponse(OneOffEventSchema, "The scheduled event"),
    ...problems({ write: true, extra: [409] }),
  },
});

/** Observer CRUD under `/api/observers`. Every write wakes the runtime so it reloads promptly. */
export function observerRoutes(deps: ApiDependencies) {
  const { sql, runtime, policy } = deps;
  const registry: ActionRegistry = deps.registry ?? defaultActionRegistry;
  const bodies = observerBodies(registry);
  const routes = router();
  // The action types' schemas, for the bodies' `$ref`s: the custom ones of this registry too.
  for (const [name, schema] of Object.entries(bodies.components)) {
    routes.openAPIRegistry.registerComponent("schemas", name, schema);
  }
  const limits = {
    maxObserversPerTenant: deps.limits.maxObserversPerTenant,
    maxActionsPerObserver: deps.limits.maxActionsPerObserver,
  };
  // Read back as stored (secrets included, for checking only): what the runtime will load. An
  // observer deleted in between has nothing left to warn about.
  const saved = async (observer: Observer): Promise<Observer & { warnings: ObserverWarning[] }> => {
    const stored = await readLive(sql, observer.id, {}).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    return { ...observer, warnings: stored ? await observerWarnings(sql, stored, deps) : [] };
  };
  return routes
    .openapi(list, async (c) => {
      const query = c.req.valid("query");
      const page = await listObservers(sql, {
        ...pageRequest(query),
        ...tenantOf(c.var.principal),
        ...(query.entity_type === undefined ? {} : { entityType: query.entity_type }),
        ...(query.event_type === undefined ? {} : { eventType: query.event_type }),
        ...(query.enabled === undefined ? {} : { enabled: query.enabled }),
        ...(query.include_deleted === undefined ? {} : { includeDeleted: query.include_deleted }),
      });
      return c.json(page, 200);
    })
    .openapi(createRouteFor(bodies), async (c) => {
      const body = c.req.valid("json");
      await checkJobActions(body.actions, deps.environment);
      await checkJobActions(body.on_dead_letter, deps.environment, "on_dead_letter");
      const observer = await createObserver(sql, body, {
        ...callerScope(c.var.principal),
        policy,
        limits,
        registry,
      });
      runtime.wake();
      c.header("location", `/api/observers/${observer.id}`);
      return c.json(await saved(observer), 201);
    })
    .openapi(get, async (c) => {
      const observer = await getObserver(sql, c.req.valid("param").id, tenantOf(c.var.principal));
      return c.json({ ...observer, held: await heldForObserver(sql, observer.id) }, 200);
    })
    .openapi(patchRouteFor(bodies), async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await checkJobActions(body.actions, deps.environment);
      await checkJobActions(body.on_dead_letter, deps.environment, "on_dead_letter");
      const observer = await updateObserver(sql, id, body, {
        ...callerScope(c.var.principal),
        policy,
        limits,
        registry,
      });
      runtime.wake();
      return c.json(await saved(observer), 200);
    })
    .openapi(remove, async (c) => {
      await deleteObserver(sql, c.req.valid("param").id, callerScope(c.var.principal));
      runtime.wake();
      return c.body(null, 204);
    })
    .openapi(toggle(true), async (c) => {
      const { id } = c.req.valid("param");
      const observer = await setObserverEnabled(sql, id, true, callerScope(c.var.principal));
      runtime.wake();
      return c.json(observer, 200);
    })
    .openapi(toggle(false), async (c) => {
      const { id } = c.req.valid("param");
      const observer = await setObserverEnabled(sql, id, false, callerScope(c.var.principal));
      runtime.wake();
      return c.json(observer, 200);
    })
    .openapi(scheduleOne, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const runAt = new Date(parseInstant(body.run_at) ?? Number.NaN).toISOString();
      const event = await scheduleOneOff(
        sql,
        id,
        { runAt, payload: (body.payload ?? null) as JsonValue },
        callerScope(c.var.principal),
      );
      if (!event) throw new NotFoundError(`no observer with id ${quoted(id)}`);
      runtime.wake();
      return c.json(event, 201);
    });
}
