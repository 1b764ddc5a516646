import { createRoute } from "@hono/zod-openapi";
import { listUndecodedMessages } from "../../store/transport.ts";
import { type ApiDependencies, router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import { jsonResponse, PageQuery, pageOf, pageRequest, problems } from "../schemas/common.ts";
import { NatsDeadLetterSchema } from "../schemas/nats.ts";

const list = createRoute({
  method: "get",
  path: "/nats/dead-letters",
  tags: ["Runtime"],
  summary: "NATS messages no worker could decode",
  description:
    "NATS mode: messages of the stream that could not be decoded, kept with their raw payload (base64) in core.tb_nats_dead_letter, newest first; read-only. They belong to no tenant: admin scope, key bound to no tenant (403 otherwise). Empty outside NATS mode.",
  request: { query: PageQuery },
  responses: {
    200: jsonResponse(pageOf(NatsDeadLetterSchema, "NatsDeadLetterPage"), "A page of them"),
    ...problems({ extra: [403] }),
  },
});

/** `GET /nats/dead-letters` (under `/api/observers`): see `list`'s description. */
export function natsRoutes(deps: ApiDependencies) {
  return router().openapi(list, async (c) => {
    const principal = c.var.principal;
    if (principal.scope !== "admin" || principal.tenant !== null) {
      throw new HttpProblem(
        403,
        "FORBIDDEN",
        "NATS dead letters belong to no tenant: use an admin key bound to no tenant",
      );
    }
    return c.json(await listUndecodedMessages(deps.sql, pageRequest(c.req.valid("query"))), 200);
  });
}
