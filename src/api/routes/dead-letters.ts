import { Hono } from "hono";
import { NotFoundError } from "../../errors.ts";
import { deleteDeadLetter, getDeadLetter, listDeadLetters } from "../../store/dead-letters.ts";
import { retryDeadLetter } from "../../store/dlq-replay.ts";
import { type ApiEnv, callerScope } from "../auth.ts";
import { type ApiDependencies, json } from "../context.ts";
import { QueryReader } from "../query.ts";

/** The dead-letter queue under `/api/observers/dlq`. */
export function deadLetterRoutes(deps: ApiDependencies): Hono<ApiEnv> {
  const { sql, runtime } = deps;
  const app = new Hono<ApiEnv>();

  app.get("/", async (c) => {
    const query = new QueryReader(c.req.query());
    const page = query.page();
    const observerId = query.text("observer_id");
    query.done();
    const { tenant } = callerScope(c.var.principal);
    return json(
      await listDeadLetters(sql, {
        ...page,
        ...(tenant === undefined ? {} : { tenant }),
        ...(observerId === undefined ? {} : { observerId }),
      }),
    );
  });

  app.get("/:id", async (c) =>
    json(await getDeadLetter(sql, c.req.param("id"), callerScope(c.var.principal))),
  );

  app.delete("/:id", async (c) => {
    await deleteDeadLetter(sql, c.req.param("id"), callerScope(c.var.principal));
    return c.body(null, 204);
  });

  app.post("/:id/retry", async (c) => {
    const id = c.req.param("id");
    const { tenant } = callerScope(c.var.principal);
    const queued = await retryDeadLetter(sql, id, tenant === undefined ? {} : { tenant });
    if (!queued) throw new NotFoundError(`no dead letter with id ${JSON.stringify(id)} to retry`);
    runtime.wake();
    return json({ message: "Retry queued", id }, 202);
  });
  return app;
}
