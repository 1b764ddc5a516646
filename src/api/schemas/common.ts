import { z } from "@hono/zod-openapi";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../limits.ts";

/** An RFC 9457 problem document with the API's stable `code`. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "about:blank" }),
    title: z.string().openapi({ example: "Bad Request" }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string(),
    code: z.string().openapi({
      description:
        "Stable machine-readable code: INVALID_CONFIG, CONDITION_SYNTAX, MALFORMED_JSON, " +
        "UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, " +
        "UNREADABLE_CHANGE, TOO_MANY_REQUESTS, INTERNAL, UNHEALTHY, OBSERVER_LIMIT, ACTION_LIMIT, " +
        "BACKTEST_RANGE_TOO_LONG, BACKTEST_BUSY, QUERY_TIMEOUT, REPLAY_TOO_LARGE, REPLAY_OUTSIDE_RETENTION; and for actions the server's " +
        "policy refuses (422): SECRET_NOT_ALLOWED, BASE_URL_NOT_ALLOWED, FUNCTION_NOT_ALLOWED, " +
        "SENDER_NOT_ALLOWED; for sources: SOURCE_KEY_MISSING, SOURCE_KIND_UNAVAILABLE (422), SOURCES_UNAVAILABLE (501)",
      example: "INVALID_CONFIG",
    }),
    issues: z.array(z.record(z.string(), z.unknown())).optional().openapi({
      description:
        "Every problem found in the input: `{path, message}`, `{message, position, length, text}` for a condition, or `{path, code, rule, message, variable?}` for an action the policy refuses",
    }),
  })
  .openapi("Problem");

const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: "Invalid input: the body lists every issue",
  401: "Missing or invalid bearer token",
  403: "The key's scope does not allow this",
  404: "No such resource for this caller (other tenants' resources answer 404 too)",
  409: "Conflicts with the current state (such as a duplicate name)",
  413: "The body is larger than the limit",
  415: "The body is not application/json",
  422: "A stored change cannot be read as an event, the request goes past a configured limit, or an action is not allowed by the server's action policy (the `code` says which; docs/security.md)",
  426: "Not a WebSocket upgrade",
  429: "Too many failed authentications from this client, or too many backtests at once for this key (see Retry-After)",
  500: "Unexpected failure (logged; the detail reveals nothing)",
  501: "Not available on this host (sources on Cloudflare Workers)",
  503: "The runtime is not running, or a query ran past the API's statement timeout (`QUERY_TIMEOUT`)",
};

/** Statuses every authenticated route may answer with a problem document. */
const COMMON = [400, 401, 404, 429, 500, 503] as const;
/** ...and every route with a body or a write. */
const WRITE = [403, 413, 415] as const;

type ProblemResponses = Record<
  number,
  {
    description: string;
    content: { "application/problem+json": { schema: typeof ProblemSchema } };
  }
>;

/** The problem responses of a route: the common ones, the write ones when it writes, and `extra`. */
export function problems(options: { write?: boolean; extra?: readonly number[] } = {}) {
  const statuses = [...COMMON, ...(options.write ? WRITE : []), ...(options.extra ?? [])];
  const responses: ProblemResponses = {};
  for (const status of statuses) {
    responses[status] = {
      description: PROBLEM_DESCRIPTIONS[status] ?? "Error",
      content: { "application/problem+json": { schema: ProblemSchema } },
    };
  }
  return responses;
}

/** A JSON response entry of a route. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return {
    required: true,
    ...(description ? { description } : {}),
    content: { "application/json": { schema } },
  } as const;
}

/** A UUID path parameter named `name`. Anything else answers 404, like an unknown id. */
export function idParam<N extends string>(name: N, description: string) {
  return z.object({
    [name]: z.string().openapi({
      param: { name, in: "path" },
      format: "uuid",
      description,
      example: "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42",
    }),
  } as { [K in N]: z.ZodString });
}

export const ObserverIdParam = idParam("id", "The observer's id");

/** An ISO 8601 timestamp (with a time zone), as every response writes them. */
export const Timestamp = z
  .string()
  .openapi({ format: "date-time", example: "2026-11-27T08:00:00.000Z" });

/** A tenant id: a number, or its text when beyond 2^53. */
export const TenantId = z.union([z.number().int(), z.string()]).nullable();

const pageNumber = z.coerce
  .number()
  .int()
  .min(1)
  .max(1_000_000)
  .optional()
  .openapi({ default: 1, description: "Page number, from 1" });
const pageSize = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .optional()
  .openapi({ default: DEFAULT_PAGE_SIZE, description: `Rows per page, 1 to ${MAX_PAGE_SIZE}` });

/** `page` and `page_size` query parameters. */
export const PageQuery = z.object({ page: pageNumber, page_size: pageSize });

/** The store's page request from validated query parameters. */
export function pageRequest(query: { page?: number | undefined; page_size?: number | undefined }) {
  return { page: query.page ?? 1, pageSize: query.page_size ?? DEFAULT_PAGE_SIZE };
}

/**
 * An ISO 8601 timestamp with a time zone, within the years 1 to 9999 once in UTC: PostgreSQL
 * refuses year 0, and a year past 9999 (`9999-12-31T23:59:59-14:00`) is written `+010000-...`,
 * which it cannot read either. Outside that range, a 400 rather than a failed query.
 */
export const Instant = z.iso.datetime({ offset: true }).refine((value) => {
  const year = new Date(value).getUTCFullYear();
  // Not a timestamp at all: the format check says so.
  return Number.isNaN(year) || (year >= 1 && year <= 9999);
}, "must be within the years 1 to 9999 (in UTC)");

/** `since` and `until` query parameters (or body fields): an ISO 8601 time range. */
export const TimeRange = {
  since: Instant.optional().openapi({
    description: "Start of the time range (inclusive), ISO 8601 with a time zone",
  }),
  until: Instant.optional().openapi({
    description: "End of the time range (exclusive), ISO 8601 with a time zone",
  }),
};

/** `true` or `false` in a query string. */
export const QueryBoolean = z
  .enum(["true", "false"])
  .transform((value) => value === "true")
  .optional()
  .openapi({ type: "boolean" });

/** A paginated list: `{data, page, page_size, total_count, total_pages}`. */
export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      data: z.array(item),
      page: z.number().int(),
      page_size: z.number().int(),
      total_count: z.number().int(),
      total_pages: z.number().int(),
    })
    .openapi(name);
}

/** A message and what it affected, for actions that return no resource. */
export const MessageSchema = z.object({ message: z.string() });
