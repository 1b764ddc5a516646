/**
 * A test client of the management API (`app.request`) that checks every response against the
 * app's OpenAPI document (test/support/openapi-check.ts) and fails the call when it does not match.
 */
import { expect } from "vitest";
import { openApiDocument } from "../../src/api/openapi.ts";
import { openApiChecker } from "./openapi-check.ts";

interface RequestableApp {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/** Responses checked so far in this process, so a test can assert the checker ran. */
export const checkedResponses = { count: 0 };

/** Options of one call. */
export interface CallOptions {
  /** Overrides the client's token; null sends no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
  /** The body's Content-Type: `application/json` unless given; null sends none. */
  contentType?: string | null;
}

/**
 * A client: `call(method, path, body?, options?)`; a string body is sent as is, and so are bytes
 * (a `Uint8Array`, for bodies that are not valid UTF-8).
 */
export function apiClient(
  app: RequestableApp & Parameters<typeof openApiDocument>[0],
  token: string | null,
) {
  const check = openApiChecker(openApiDocument(app));
  return async function call(
    method: string,
    path: string,
    body?: unknown,
    options: CallOptions = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    const bearer = options.token === undefined ? token : options.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let payload: string | Uint8Array<ArrayBuffer> | undefined;
    if (body !== undefined) {
      if (options.contentType !== null) {
        headers["content-type"] ??= options.contentType ?? "application/json";
      }
      payload =
        typeof body === "string"
          ? body
          : body instanceof Uint8Array
            ? new Uint8Array(body)
            : JSON.stringify(body);
    }
    const response = await app.request(path, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const failures = await check(method, path, response);
    checkedResponses.count += 1;
    if (failures.length > 0) {
      throw new Error(`response does not match the OpenAPI document:\n${failures.join("\n")}`);
    }
    return response;
  };
}

/** One issue of a problem document (validation issues carry more fields, e.g. a position). */
export interface ProblemIssue {
  path: string;
  message: string;
  [field: string]: unknown;
}

/** Asserts `response` is a problem document with `status`; returns its body. */
export async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  return (await response.json()) as { code: string; detail: string; issues?: ProblemIssue[] };
}
