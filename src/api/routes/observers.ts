import { Hono } from "hono";
import {
  createObserver,
  deleteObserver,
  getObserver,
  listObservers,
  setObserverEnabled,
  updateObserver,
} from "../../store/observers.ts";
import { type ApiEnv, callerScope } from "../auth.ts";
import { readJsonBody } from "../body.ts";
import { type ApiDependencies, json } from "../context.ts";
import { QueryReader } from "../query.ts";

/** Observer CRUD under `/api/observers`. Every write wakes the runtime so it reloads promptly. */
export function observerRoutes(deps: ApiDependencies): Hono<ApiEnv> {
  const { sql, runtime } = deps;
  const app = new Hono<ApiEnv>();

  app.get("/", async (c) => {
    const query = new QueryReader(c.req.query());
    const page = query.page();
    const entityType = query.text("entity_type");
    const eventType = query.text("event_type");
    const enabled = query.boolean("enabled");
    const includeDeleted = query.boolean("include_deleted");
    query.done();
    const { tenant } = callerScope(c.var.principal);
    return json(
      await listObservers(sql, {
        ...page,
        ...(tenant === undefined ? {} : { tenant }),
        ...(entityType === undefined ? {} : { entityType }),
        ...(eventType === undefined ? {} : { eventType }),
        ...(enabled === undefined ? {} : { enabled }),
        ...(includeDeleted === undefined ? {} : { includeDeleted }),
      }),
    );
  });

  app.post("/", async (c) => {
    const body = await readJsonBody(c.req.raw);
    const observer = await createObserver(sql, body, callerScope(c.var.principal));
    runtime.wake();
    return json(observer, 201, { location: `/api/observers/${observer.id}` });
  });

  app.get("/:id", async (c) =>
    json(await getObserver(sql, c.req.param("id"), callerScope(c.var.principal))),
  );

  app.patch("/:id", async (c) => {
    const patch = await readJsonBody(c.req.raw);
    const observer = await updateObserver(
      sql,
      c.req.param("id"),
      patch,
      callerScope(c.var.principal),
    );
    runtime.wake();
    return json(observer);
  });

  app.delete("/:id", async (c) => {
    await deleteObserver(sql, c.req.param("id"), callerScope(c.var.principal));
    runtime.wake();
    return c.body(null, 204);
  });

  for (const [path, enabled] of [
    ["/:id/enable", true],
    ["/:id/disable", false],
  ] as const) {
    app.post(path, async (c) => {
      const scope = callerScope(c.var.principal);
      const observer = await setObserverEnabled(sql, c.req.param("id"), enabled, scope);
      runtime.wake();
      return json(observer);
    });
  }
  return app;
}
