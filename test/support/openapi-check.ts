/**
 * Validates API responses against the app's own OpenAPI 3.1 document (ajv, JSON Schema 2020-12):
 * the status must be declared for the operation, the content type must be one it declares, and
 * the JSON body must match that content's schema. Every test client built by `apiClient` runs
 * each response through it, so the whole suite checks the document against what the API does.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

type Json = Record<string, unknown>;

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  literalSegments: number;
  responses: Record<string, { content?: Record<string, unknown> }>;
}

/** The failures of one response, empty when it matches the document. */
export type ResponseCheck = (method: string, path: string, response: Response) => Promise<string[]>;

const DOC_ID = "openapi.json";

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A checker for responses of the API described by `document`. */
export function openApiChecker(document: Json): ResponseCheck {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  ajv.addSchema(document, DOC_ID);
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths as Record<string, Json>)) {
    for (const [method, operation] of Object.entries(item)) {
      const segments = template.split("/");
      const pattern = new RegExp(
        `^${segments.map((s) => (s.startsWith("{") ? "[^/]+" : s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))).join("/")}$`,
      );
      operations.push({
        method: method.toUpperCase(),
        template,
        pattern,
        literalSegments: segments.filter((s) => !s.startsWith("{")).length,
        responses: (operation as Json).responses as Operation["responses"],
      });
    }
  }
  const problemValidator = ajv.getSchema(`${DOC_ID}#/components/schemas/Problem`);

  return async (method, path, response) => {
    const pathname = new URL(path, "http://api.test").pathname;
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    const text = await response.clone().text();
    const candidates = operations
      .filter((op) => op.method === method.toUpperCase() && op.pattern.test(pathname))
      .sort((a, b) => b.literalSegments - a.literalSegments);
    const operation = candidates[0];
    if (!operation) {
      // Unknown routes (and methods) answer the same problem document everywhere.
      if (response.status !== 404)
        return [`${method} ${pathname}: no operation, yet ${response.status}`];
      if (contentType !== "application/problem+json")
        return [`404 without problem+json: ${contentType}`];
      return problemValidator?.(JSON.parse(text)) ? [] : [`404 body is not a Problem: ${text}`];
    }
    const where = `${method} ${operation.template} → ${response.status}`;
    const declared = operation.responses[String(response.status)] ?? operation.responses.default;
    if (!declared) return [`${where}: status not declared`];
    if (!declared.content) {
      return text === "" ? [] : [`${where}: declared without content, got ${text.slice(0, 200)}`];
    }
    if (!(contentType in declared.content)) {
      return [
        `${where}: content type ${contentType} not declared (${Object.keys(declared.content).join(", ")})`,
      ];
    }
    if (!contentType.endsWith("json")) return [];
    const pointer = [
      "paths",
      operation.template,
      method.toLowerCase(),
      "responses",
      String(response.status) in operation.responses ? String(response.status) : "default",
      "content",
      contentType,
      "schema",
    ]
      .map(escapePointer)
      .join("/");
    const validate = ajv.getSchema(`${DOC_ID}#/${pointer}`);
    if (!validate) return [`${where}: no schema at ${pointer}`];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [`${where}: body is not JSON: ${text.slice(0, 200)}`];
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`,
    );
  };
}
