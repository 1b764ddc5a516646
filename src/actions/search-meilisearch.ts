import type { JsonObject } from "../json.ts";
import { stringifyJson } from "../json.ts";
import type { HttpRequest } from "../net/http.ts";
import type { SearchTarget } from "./search.ts";

function indexUrl(target: SearchTarget): string {
  return `${target.baseUrl}/indexes/${encodeURIComponent(target.index)}/documents`;
}

/**
 * Meilisearch "add or replace documents": a JSON array of one document. Meilisearch answers 202
 * with a task; indexing happens later, so success means "accepted".
 * https://www.meilisearch.com/docs/reference/api/documents#add-or-replace-documents
 */
export function meilisearchUpsert(
  target: SearchTarget,
  document: JsonObject,
  primaryKey: string | undefined,
): HttpRequest {
  let body = document;
  // Deletes address the document by the rendered id, so the primary-key field must hold that
  // same id; fill it in when the document lacks it rather than index something we cannot delete.
  if (primaryKey !== undefined && !Object.hasOwn(document, primaryKey)) {
    body = { ...document, [primaryKey]: target.id };
  }
  const query = primaryKey === undefined ? "" : `?primaryKey=${encodeURIComponent(primaryKey)}`;
  return {
    url: `${indexUrl(target)}${query}`,
    method: "POST",
    headers: { ...target.headers, "content-type": "application/json" },
    body: stringifyJson([body]),
  };
}

/**
 * Meilisearch "delete one document".
 * https://www.meilisearch.com/docs/reference/api/documents#delete-one-document
 */
export function meilisearchDelete(target: SearchTarget): HttpRequest {
  return {
    url: `${indexUrl(target)}/${encodeURIComponent(target.id)}`,
    method: "DELETE",
    headers: target.headers,
  };
}
