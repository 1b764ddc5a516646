/**
 * The one HTTP client of the CLI's server commands: joins paths onto `--base-url` (keeping a
 * mount prefix), sends the bearer token, reads JSON or text, and turns failures into `CliError`s
 * with the exit codes of exit-codes.ts. The token never appears in any message.
 */
import { CliError, EXIT } from "./exit-codes.ts";

/** How long one request may take before the CLI gives up. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  baseUrl: string;
  token: string | undefined;
}

/** A response read whole. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, the text otherwise (undefined when empty). */
  body: unknown;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  accept?: string;
}

/** The base URL as shown in messages: no user info, no query. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Checks `--base-url`: an http(s) URL (a usage error otherwise). */
export function parseBaseUrl(text: string): URL {
  if (!URL.canParse(text)) {
    throw new CliError(EXIT.usage, `--base-url: not a URL: ${JSON.stringify(text)}`);
  }
  const url = new URL(text);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CliError(EXIT.usage, `--base-url: must be http:// or https://, got ${url.protocol}`);
  }
  // Credentials in a URL end up in shell history and process lists: the token has its own option.
  if (url.username || url.password) {
    throw new CliError(
      EXIT.usage,
      "--base-url: must not hold credentials (user:password@): pass the token with --admin-token or OBSERVERS_TOKEN",
    );
  }
  return url;
}

/** A problem body (RFC 9457, as the API answers) as readable lines. */
export function describeProblem(status: number, body: unknown): string {
  if (typeof body !== "object" || body === null) {
    const text =
      typeof body === "string" && body.trim() !== "" ? `: ${body.trim().slice(0, 500)}` : "";
    return `HTTP ${status}${text}`;
  }
  const problem = body as Record<string, unknown>;
  const code = typeof problem.code === "string" ? ` ${problem.code}` : "";
  const detail = typeof problem.detail === "string" ? `: ${problem.detail}` : "";
  const lines = [`HTTP ${status}${code}${detail}`];
  if (Array.isArray(problem.issues)) {
    for (const issue of problem.issues as Record<string, unknown>[]) {
      const where =
        typeof issue.path === "string" && issue.path !== ""
          ? issue.path
          : typeof issue.position === "number"
            ? `position ${issue.position}`
            : "";
      lines.push(
        `  - ${where ? `${where}: ` : ""}${String(issue.message ?? JSON.stringify(issue))}`,
      );
    }
  }
  return lines.join("\n");
}

export class ApiClient {
  readonly base: URL;
  readonly #token: string | undefined;

  constructor(options: ClientOptions) {
    this.base = parseBaseUrl(options.baseUrl);
    this.#token = options.token;
  }

  /** The token, for a WebSocket's headers only. */
  authHeaders(): Record<string, string> {
    return this.#token ? { authorization: `Bearer ${this.#token}` } : {};
  }

  /** `path` (starting with `/`) under the base URL, keeping its path prefix. */
  url(path: string, query: RequestOptions["query"] = {}): URL {
    const prefix = this.base.pathname.replace(/\/$/, "");
    const url = new URL(`${prefix}${path}`, this.base);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url;
  }

  /** Sends one request; a network failure is exit 3. Any status comes back as it is. */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = {
      accept: options.accept ?? "application/json",
      ...this.authHeaders(),
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = error instanceof Error ? (error.cause ?? error) : error;
      const reason =
        cause instanceof Error
          ? `${cause.message}${"code" in cause ? ` (${String(cause.code)})` : ""}`
          : String(cause);
      throw new CliError(
        EXIT.unreachable,
        `cannot reach the server at ${displayUrl(this.base)}: ${this.#scrub(reason)} (is it running? set --base-url or OBSERVERS_URL)`,
      );
    }
    const text = await response.text();
    const type = response.headers.get("content-type") ?? "";
    let parsed: unknown = text === "" ? undefined : text;
    if (text !== "" && type.includes("json")) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** Sends one request and returns its body; any non-2xx status is a `CliError`. */
  async call<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.raw(method, path, options);
    if (response.status >= 200 && response.status < 300) return response.body as T;
    throw this.failure(method, path, response);
  }

  /** The error for a non-2xx answer: 401/403 exit 3, anything else exit 1. */
  failure(method: string, path: string, response: ApiResponse): CliError {
    const described = this.#scrub(describeProblem(response.status, response.body));
    if (response.status === 401 || response.status === 403) {
      const hint = this.#token
        ? "the token was refused"
        : "no token given: pass --admin-token or set OBSERVERS_TOKEN";
      return new CliError(EXIT.unreachable, `${method} ${path}: ${described}\n(${hint})`);
    }
    return new CliError(EXIT.failed, `${method} ${path}: ${described}`);
  }

  #scrub(text: string): string {
    return this.#token ? text.split(this.#token).join("[REDACTED]") : text;
  }
}
