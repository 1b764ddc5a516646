import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ApiEnv } from "./auth.ts";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from "./limits.ts";

const DESCRIPTION = `Manage observers (what to watch in PostgreSQL and which actions to run), read
their logs and statistics, replay dead letters, and ask why an observer did or did not fire.

Authenticate with \`Authorization: Bearer <token>\`: the admin token, or an API key (\`/api/keys\`).
A \`read\` key can only read; a key bound to a tenant sees only that tenant's observers, logs, dead
letters and changes (others answer 404). Errors are \`application/problem+json\` (RFC 9457) with a
stable \`code\`. Request bodies are limited to ${MAX_BODY_BYTES} bytes and ${MAX_JSON_DEPTH} levels of
nesting; text may not contain U+0000 or unpaired surrogates (PostgreSQL cannot store them).`;

let cached: { app: object; document: Record<string, unknown> } | undefined;

/**
 * The OpenAPI 3.1 document of `app`: every route's request and response schemas, the bearer
 * scheme, and one schema per action type of the app's registry (registered by the observer routes,
 * generated from the actions' own definitions).
 */
export function openApiDocument(app: OpenAPIHono<ApiEnv>): Record<string, unknown> {
  if (cached?.app === app) return cached.document;
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description:
      "The admin token (OBSERVERS_ADMIN_TOKEN or the printed bootstrap token) or an API key",
  });
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "fraiseql-observers", version: "1.0.0", description: DESCRIPTION },
    security: [{ bearer: [] }],
  }) as unknown as Record<string, unknown>;
  cached = { app, document };
  return document;
}
