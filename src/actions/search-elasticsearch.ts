import type { JsonObject } from "../json.ts";
import { stringifyJson } from "../json.ts";
import type { HttpRequest } from "../net/http.ts";
import type { SearchTarget } from "./search.ts";

/** The `refresh` values Elasticsearch and OpenSearch accept on document writes. */
export type ElasticsearchRefresh = "true" | "false" | "wait_for";

// One document per request through the document API, not `_bulk`: FraiseQL's sink sent `_bulk`
// as a JSON array where the API requires NDJSON (reference gap 19), and one event is one document.
function documentUrl(target: SearchTarget, refresh: ElasticsearchRefresh): string {
  const path = `${encodeURIComponent(target.index)}/_doc/${encodeURIComponent(target.id)}`;
  return `${target.baseUrl}/${path}?refresh=${refresh}`;
}

/**
 * Index (create or replace) a document by id: 201 when created, 200 when replaced.
 * https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-index
 */
export function elasticsearchUpsert(
  target: SearchTarget,
  document: JsonObject,
  refresh: ElasticsearchRefresh,
): HttpRequest {
  return {
    url: documentUrl(target, refresh),
    method: "PUT",
    headers: { ...target.headers, "content-type": "application/json" },
    body: stringifyJson(document),
  };
}

/**
 * Delete a document by id (404 when it, or its index, does not exist).
 * https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-delete
 */
export function elasticsearchDelete(
  target: SearchTarget,
  refresh: ElasticsearchRefresh,
): HttpRequest {
  return { url: documentUrl(target, refresh), method: "DELETE", headers: target.headers };
}
