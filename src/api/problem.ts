import { HTTPException } from "hono/http-exception";
import {
  ActionPolicyError,
  ChangeEventError,
  ConditionSyntaxError,
  ConfigError,
  ConflictError,
  LimitError,
  NotFoundError,
} from "../errors.ts";
import type { Logger } from "../ports/logger.ts";
import { QUERY_CANCELED, sqlState } from "../store/common.ts";

/** An RFC 9457 problem document, with the core's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  issues?: readonly unknown[];
}

const TITLES: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** A failure that belongs to HTTP (auth, body size, malformed JSON), thrown inside handlers. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = "HttpProblem";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** An `application/problem+json` response. */
export function problemResponse(
  status: number,
  code: string,
  detail: string,
  extra: { issues?: readonly unknown[]; headers?: Readonly<Record<string, string>> } = {},
): Response {
  const problem: Problem = {
    type: "about:blank",
    title: TITLES[status] ?? "Error",
    status,
    detail,
    code,
    ...(extra.issues ? { issues: extra.issues } : {}),
  };
  return new Response(JSON.stringify(problem), {
    status,
    headers: { "content-type": "application/problem+json", ...extra.headers },
  });
}

/**
 * The response for anything a handler threw: bad input is a 4xx with what to fix; anything else
 * is a 500 whose detail reveals nothing (the error itself goes to the log).
 */
export function errorResponse(error: unknown, logger: Logger, request: Request): Response {
  if (error instanceof HttpProblem) {
    return problemResponse(error.status, error.code, error.message, { headers: error.headers });
  }
  if (error instanceof ConfigError || error instanceof ConditionSyntaxError) {
    return problemResponse(400, error.code, error.message, { issues: error.issues });
  }
  if (error instanceof ActionPolicyError) {
    return problemResponse(422, error.code, error.message, { issues: error.issues });
  }
  if (error instanceof NotFoundError) return problemResponse(404, error.code, error.message);
  if (error instanceof ConflictError) return problemResponse(409, error.code, error.message);
  if (error instanceof LimitError) return problemResponse(422, error.code, error.message);
  // The API's statement_timeout (OBSERVERS_API_STATEMENT_TIMEOUT_MS) cut the query off.
  if (sqlState(error) === QUERY_CANCELED) {
    return problemResponse(
      503,
      "QUERY_TIMEOUT",
      "the query took longer than this server allows API queries to run; narrow it (a shorter time range, more filters) or try again later",
    );
  }
  if (error instanceof ChangeEventError) {
    return problemResponse(
      422,
      "UNREADABLE_CHANGE",
      `the stored change cannot be read: ${error.message}`,
    );
  }
  if (error instanceof HTTPException && error.status < 500) return fromHttpException(error);
  logger.log("error", "API request failed", {
    method: request.method,
    path: new URL(request.url).pathname,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return problemResponse(500, "INTERNAL", "The request failed unexpectedly; the error was logged.");
}

/** Codes of the 4xx Hono's own middleware (validators, body limit) raise. */
const HTTP_EXCEPTION_CODES: Readonly<Record<number, string>> = {
  400: "MALFORMED_JSON",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
};

function fromHttpException(error: HTTPException): Response {
  const code = HTTP_EXCEPTION_CODES[error.status] ?? "BAD_REQUEST";
  const detail =
    error.status === 415
      ? "send the body as JSON, with Content-Type: application/json"
      : error.message || (TITLES[error.status] ?? "Bad request");
  return problemResponse(error.status, code, detail);
}

/** One failed check of a request, as the `issues` of a 400. */
export interface RequestIssue {
  path: string;
  message: string;
}

/** Where a request value was read from, as Hono's validators name it. */
type Target = "json" | "query" | "param" | "header" | "form" | "cookie";

const TARGET_NAMES: Readonly<Partial<Record<Target, string>>> = {
  json: "body",
  query: "query parameter",
};

/**
 * The 400 for a request that failed its schema: every issue with the dotted path of the field.
 * Query-parameter issues name the parameter; body issues name the field.
 */
export function validationProblem(
  target: Target,
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    code?: string;
    keys?: unknown;
  }[],
): Response {
  const list: RequestIssue[] = issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // One issue per unknown field, named like every other field (zod lists them together).
    if (issue.code === "unrecognized_keys" && Array.isArray(issue.keys)) {
      return issue.keys.map((key) => ({
        path: [...path, String(key)].join("."),
        message: `unknown field ${JSON.stringify(String(key))}`,
      }));
    }
    return [{ path: path.join("."), message: issue.message }];
  });
  const first = list[0];
  const where = TARGET_NAMES[target] ?? target;
  const detail = first
    ? `invalid ${where}${first.path ? ` ${first.path}` : ""}: ${first.message}` +
      (list.length > 1 ? ` (and ${list.length - 1} more)` : "")
    : `invalid ${where}`;
  return problemResponse(400, "INVALID_CONFIG", detail, { issues: list });
}
