import { createRoute } from "@hono/zod-openapi";
import { parseCondition } from "../../dsl/parser.ts";
import type { EventType } from "../../events/types.ts";
import { listChanges } from "../../store/changes.ts";
import { tenantOf } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import { DEFAULT_PAGE_SIZE } from "../limits.ts";
import {
  ChangePageSchema,
  ChangeQuerySchema,
  ValidateRequestSchema,
  ValidateResultSchema,
} from "../schemas/changes.ts";
import { jsonBody, jsonResponse, problems } from "../schemas/common.ts";

const list = createRoute({
  method: "get",
  path: "/changes",
  tags: ["Inspection"],
  summary: "List captured changes",
  description:
    "The changes of `core.tb_entity_change_log`, newest first, each with its event id and a link to its explanation. Paginated by keyset: pass a page's `next_cursor` as `cursor` for the next, older one (stable while changes arrive). A tenant-bound key sees its tenant's changes only. Filters combine; `since`/`until` bound `created_at` (until exclusive).",
  request: { query: ChangeQuerySchema },
  responses: { 200: jsonResponse(ChangePageSchema, "A page of changes"), ...problems() },
});

const validate = createRoute({
  method: "post",
  path: "/validate",
  tags: ["Inspection"],
  summary: "Check a condition",
  description:
    "Parses a condition without saving anything: `valid`, or every issue with its position (what the console's editor shows as you type). Only reads: a read key may call it.",
  request: { body: jsonBody(ValidateRequestSchema) },
  responses: {
    200: jsonResponse(ValidateResultSchema, "Whether it parses, and its issues"),
    ...problems({ write: true }),
  },
});

/** `GET /api/observers/changes` and `POST /api/observers/validate` (registered before `/{id}`). */
export function changeRoutes(deps: ApiDependencies) {
  const { sql } = deps;
  return router()
    .openapi(list, async (c) => {
      const query = c.req.valid("query");
      const page = await listChanges(sql, {
        ...tenantOf(c.var.principal),
        ...(query.entity_type === undefined ? {} : { entityType: query.entity_type }),
        ...(query.event_type === undefined ? {} : { eventType: query.event_type as EventType }),
        ...(query.entity_id === undefined ? {} : { entityId: query.entity_id }),
        ...(query.since === undefined ? {} : { since: query.since }),
        ...(query.until === undefined ? {} : { until: query.until }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
      });
      const data = page.data.map((change) => ({
        ...change,
        links: {
          explain: `events/${change.event_id}/explain`,
          console: `console/#/changes/${change.event_id}`,
        },
      }));
      return c.json({ data, next_cursor: page.next_cursor }, 200);
    })
    .openapi(validate, (c) => {
      const parsed = parseCondition(c.req.valid("json").condition_expression);
      return c.json(
        parsed.success ? { valid: true, issues: [] } : { valid: false, issues: parsed.issues },
        200,
      );
    });
}
