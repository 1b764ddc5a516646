import * as v from "valibot";
import { parseJson } from "../events/parse-json.ts";
import { isJsonObject, type JsonObject } from "../json.ts";
import { expectSuccess, type HttpRequest, sendHttp } from "../net/http.ts";
import { renderTemplate, type TemplateContext } from "../templates/index.ts";
import { atMostOne, envName, httpUrl, nonEmptyString, secret, template } from "./fields.ts";
import { elasticsearchDelete, elasticsearchUpsert } from "./search-elasticsearch.ts";
import { meilisearchDelete, meilisearchUpsert } from "./search-meilisearch.ts";
import { pathSegmentProblem, previewValue } from "./search-path-segment.ts";
import { resolveSecret } from "./secrets.ts";
import { type ActionDefinition, ActionFailure, type ActionRequest } from "./types.ts";

/** Search engines the `search` action writes to (`elasticsearch` also covers OpenSearch). */
export const SEARCH_PROVIDERS = ["meilisearch", "elasticsearch"] as const;

/** Where one search document lives, resolved for one event. */
export interface SearchTarget {
  /** The engine's base URL without a trailing slash. */
  baseUrl: string;
  index: string;
  id: string;
  /** `accept` and, when configured, `authorization`. */
  headers: Record<string, string>;
}

const refresh = v.pipe(
  v.union(
    [v.boolean(), v.picklist(["true", "false", "wait_for"])],
    'must be true, false or "wait_for"',
  ),
  v.transform((value) => String(value) as "true" | "false" | "wait_for"),
);

/** The `search` action's config. */
export const searchConfigSchema = v.pipe(
  v.strictObject({
    type: v.literal("search"),
    provider: v.picklist(SEARCH_PROVIDERS, `must be one of ${SEARCH_PROVIDERS.join(", ")}`),
    base_url: httpUrl,
    index: template("text"),
    id_template: v.optional(template("text")),
    document_template: v.optional(template("json")),
    primary_key: v.optional(
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,511}$/, "must be a Meilisearch attribute name")),
    ),
    api_key: v.optional(secret),
    api_key_env: v.optional(envName),
    // RFC 7617: the user-id of Basic credentials cannot contain a colon.
    username: v.optional(v.pipe(nonEmptyString, v.excludes(":", "must not contain ':'"))),
    password_env: v.optional(envName),
    refresh: v.optional(refresh),
  }),
  atMostOne("api_key", "api_key_env"),
  v.check(
    (c) => (c.username === undefined) === (c.password_env === undefined),
    "username and password_env go together",
  ),
  v.check(
    (c) => c.username === undefined || (c.api_key === undefined && c.api_key_env === undefined),
    "give an API key or username/password_env, not both",
  ),
  v.check(
    (c) => c.provider === "elasticsearch" || (c.username === undefined && c.refresh === undefined),
    "username, password_env and refresh apply to elasticsearch only",
  ),
  v.check(
    (c) => c.provider === "meilisearch" || c.primary_key === undefined,
    "primary_key applies to meilisearch only",
  ),
);
export type SearchConfig = v.InferOutput<typeof searchConfigSchema>;

/** UTF-8 safe base64 (`btoa` alone takes Latin-1 only). */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function authorization(request: ActionRequest<SearchConfig>): string | undefined {
  const { config } = request;
  const key = resolveSecret(config.api_key, config.api_key_env, request, "search api_key");
  if (config.provider === "meilisearch") return key === undefined ? undefined : `Bearer ${key}`;
  if (key !== undefined) return `ApiKey ${key}`;
  if (config.username === undefined) return undefined;
  const password = resolveSecret(undefined, config.password_env, request, "search password");
  return `Basic ${base64(`${config.username}:${password ?? ""}`)}`;
}

function permanent(code: string, message: string): ActionFailure {
  return new ActionFailure("permanent", code, message);
}

function resolveTarget(request: ActionRequest<SearchConfig>, context: TemplateContext) {
  const { config, event } = request;
  const index = renderTemplate(config.index, "text", context);
  const indexProblem = pathSegmentProblem(index);
  if (indexProblem !== null) {
    throw permanent("INVALID_SEARCH_TARGET", `index ${previewValue(index)} ${indexProblem}`);
  }
  let id: string;
  if (config.id_template !== undefined) id = renderTemplate(config.id_template, "text", context);
  else if (event.entity_id !== null) id = event.entity_id;
  else throw permanent("INVALID_SEARCH_TARGET", "the event has no entity_id; set id_template");
  // Ids come from row data: one that would address the index (or another path) instead of a
  // document is refused for good, before anything is sent.
  const idProblem = pathSegmentProblem(id);
  if (idProblem !== null) {
    const source = config.id_template === undefined ? "entity_id" : "id_template";
    throw permanent(
      "INVALID_DOCUMENT_ID",
      `document id ${previewValue(id)} (${source}) ${idProblem}`,
    );
  }
  const headers: Record<string, string> = { accept: "application/json" };
  const auth = authorization(request);
  if (auth !== undefined) headers.authorization = auth;
  return { baseUrl: config.base_url.replace(/\/+$/, ""), index, id, headers };
}

function documentOf(request: ActionRequest<SearchConfig>, context: TemplateContext): JsonObject {
  const { config, event } = request;
  if (config.document_template === undefined) {
    if (event.after === null) {
      throw permanent(
        "INVALID_SEARCH_DOCUMENT",
        "the event has no after image; set document_template",
      );
    }
    return event.after;
  }
  const text = renderTemplate(config.document_template, "json", context);
  let document: unknown;
  try {
    document = parseJson(text);
  } catch (error) {
    throw new ActionFailure(
      "permanent",
      "INVALID_SEARCH_DOCUMENT",
      "document_template did not render JSON",
      {
        cause: error,
      },
    );
  }
  if (!isJsonObject(document)) {
    throw permanent("INVALID_SEARCH_DOCUMENT", "document_template must render a JSON object");
  }
  return document;
}

async function run(request: ActionRequest<SearchConfig>) {
  const { config, event, environment, signal } = request;
  const context: TemplateContext = {
    event,
    observer: request.observer,
    deliveryId: request.deliveryId,
    attempt: request.attempt,
  };
  const target = resolveTarget(request, context);
  const refreshMode = config.refresh ?? "false";
  const remove = event.op === "d";
  let http: HttpRequest;
  if (config.provider === "meilisearch") {
    http = remove
      ? meilisearchDelete(target)
      : meilisearchUpsert(target, documentOf(request, context), config.primary_key);
  } else {
    http = remove
      ? elasticsearchDelete(target, refreshMode)
      : elasticsearchUpsert(target, documentOf(request, context), refreshMode);
  }
  const response = await sendHttp(http, environment, signal);
  // A delete of something already gone (or an index never created) has reached its goal.
  if (remove && response.status === 404) {
    return { message: "HTTP 404 (already absent)", httpStatus: 404 };
  }
  return expectSuccess(response, environment);
}

/**
 * Keeps a search index in step with a table: inserts and updates upsert the document (the after
 * image, or `document_template`), deletes remove it. Meilisearch, Elasticsearch or OpenSearch.
 */
export const searchAction: ActionDefinition<SearchConfig> = {
  type: "search",
  schema: searchConfigSchema,
  destination: (config) => `search:${new URL(config.base_url).origin}`,
  run,
};
