import { ConditionSyntaxError, ConfigError, ConflictError, NotFoundError } from "../errors.ts";
import type { Logger } from "../ports/logger.ts";

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
  if (error instanceof NotFoundError) return problemResponse(404, error.code, error.message);
  if (error instanceof ConflictError) return problemResponse(409, error.code, error.message);
  logger.log("error", "API request failed", {
    method: request.method,
    path: new URL(request.url).pathname,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return problemResponse(500, "INTERNAL", "The request failed unexpectedly; the error was logged.");
}
