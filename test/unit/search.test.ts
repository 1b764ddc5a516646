import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { searchAction, searchConfigSchema } from "../../src/actions/search.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert, remove, update } from "../support/events.ts";
import { type ReceivedRequest, useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 200, body: "{}" }));

const meili = (extra: Record<string, unknown> = {}) => ({
  type: "search",
  provider: "meilisearch",
  base_url: `${receiver.url}/meili/`,
  index: "orders",
  ...extra,
});
const elastic = (extra: Record<string, unknown> = {}) => ({
  type: "search",
  provider: "elasticsearch",
  base_url: receiver.url,
  index: "orders",
  ...extra,
});

async function send(config: Record<string, unknown>, event = insert({ id: 42, total: 150 })) {
  const env = { OBSERVERS_SECRET_MEILI_KEY: "meili-secret", OBSERVERS_SECRET_ES_PASSWORD: "pä55" };
  const result = await runAction(searchAction, config, event, {
    environment: testEnvironment({ env }),
  });
  const request = receiver.requests.at(-1) as ReceivedRequest;
  return { result, request, body: request.text === "" ? undefined : JSON.parse(request.text) };
}

describe("meilisearch", () => {
  it("upserts an insert as a one-document array, with the bearer key", async () => {
    receiver.reply(() => ({ status: 202, body: '{"taskUid":1}' }));
    const { result, request, body } = await send(
      meili({ api_key_env: "OBSERVERS_SECRET_MEILI_KEY", primary_key: "id" }),
    );
    expect(result.httpStatus).toBe(202);
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/meili/indexes/orders/documents?primaryKey=id");
    expect(request.headers.authorization).toBe("Bearer meili-secret");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(body).toEqual([{ id: 42, total: 150 }]);
  });

  it("upserts an update with a rendered document and fills in the primary key", async () => {
    const event = update({ id: 42, status: "shipped" }, { id: 42, status: "new" });
    const { request, body } = await send(
      meili({
        primary_key: "order_id",
        id_template: "order-{{ id }}",
        document_template: '{"status": "{{ status }}", "from": {{ before.status }}}',
      }),
      event,
    );
    expect(request.method).toBe("POST");
    expect(request.headers.authorization).toBeUndefined();
    expect(body).toEqual([{ status: "shipped", from: "new", order_id: "order-42" }]);
  });

  it("deletes a deleted row's document, URL-encoding index and id", async () => {
    receiver.reply(() => ({ status: 202, body: "{}" }));
    const event = remove({ id: "a+b c" }, { object_id: "a+b c" });
    const { result, request } = await send(
      meili({ index: "ord ers&{{ event.entity_type }}" }),
      event,
    );
    expect(result.httpStatus).toBe(202);
    expect(request.method).toBe("DELETE");
    expect(request.path).toBe("/meili/indexes/ord%20ers%26Order/documents/a%2Bb%20c");
    expect(request.text).toBe("");
  });

  it("treats 404 on delete as already gone", async () => {
    receiver.reply(() => ({ status: 404, body: '{"code":"index_not_found"}' }));
    const { result } = await send(meili(), remove({ id: 42 }));
    expect(result.httpStatus).toBe(404);
  });
});

describe("elasticsearch", () => {
  it("indexes an insert by id with refresh=false and an ApiKey", async () => {
    receiver.reply(() => ({ status: 201, body: '{"result":"created"}' }));
    const { result, request, body } = await send(elastic({ api_key: "aWQ6a2V5" }));
    expect(result.httpStatus).toBe(201);
    expect(request.method).toBe("PUT");
    expect(request.path).toBe("/orders/_doc/42?refresh=false");
    expect(request.headers.authorization).toBe("ApiKey aWQ6a2V5");
    expect(body).toEqual({ id: 42, total: 150 });
  });

  it("replaces on update, with basic auth and a configured refresh", async () => {
    const event = update({ id: 42, total: 99 }, null);
    const { request, body } = await send(
      elastic({
        username: "élastic",
        password_env: "OBSERVERS_SECRET_ES_PASSWORD",
        refresh: "wait_for",
      }),
      event,
    );
    expect(request.method).toBe("PUT");
    expect(request.path).toBe("/orders/_doc/42?refresh=wait_for");
    const basic = Buffer.from("élastic:pä55", "utf8").toString("base64");
    expect(request.headers.authorization).toBe(`Basic ${basic}`);
    expect(body).toEqual({ id: 42, total: 99 });
  });

  it("deletes, and a 404 on delete is success", async () => {
    receiver.reply(() => ({ status: 404, body: '{"result":"not_found"}' }));
    const { result, request } = await send(elastic({ refresh: true }), remove({ id: 42 }));
    expect(request.method).toBe("DELETE");
    expect(request.path).toBe("/orders/_doc/42?refresh=true");
    expect(result.httpStatus).toBe(404);
  });
});

describe("failures", () => {
  it("5xx is transient", async () => {
    receiver.reply(() => ({ status: 503, body: "busy" }));
    const error = await actionFailure(send(elastic()));
    expect(error.kind).toBe("transient");
    expect(error.httpStatus).toBe(503);
  });

  it("400 is permanent, and so is a 404 on upsert", async () => {
    receiver.reply(() => ({ status: 400, body: '{"error":"mapper_parsing_exception"}' }));
    expect((await actionFailure(send(meili()))).kind).toBe("permanent");
    receiver.reply(() => ({ status: 404, body: "{}" }));
    expect((await actionFailure(send(elastic()))).kind).toBe("permanent");
  });

  it("a missing id or document fails permanently without sending", async () => {
    const noId = insert({ total: 1 }, { object_id: null });
    expect((await actionFailure(send(elastic(), noId))).code).toBe("INVALID_SEARCH_TARGET");
    const notObject = meili({ document_template: "[{{ total }}]" });
    expect((await actionFailure(send(notObject))).code).toBe("INVALID_SEARCH_DOCUMENT");
    expect(receiver.requests).toHaveLength(0);
  });

  it("an unset key variable is MISSING_SECRET", async () => {
    const error = await actionFailure(send(meili({ api_key_env: "OBSERVERS_SECRET_UNSET_KEY" })));
    expect(error.code).toBe("MISSING_SECRET");
    expect(error.kind).toBe("permanent");
  });
});

describe("config", () => {
  const issues = (config: Record<string, unknown>) =>
    v.safeParse(searchConfigSchema, config).issues?.map((issue) => issue.message) ?? [];

  it("rejects mixed or misplaced options", () => {
    const base = { type: "search", base_url: "https://search.example", index: "i" };
    expect(issues({ ...base, provider: "solr" })[0]).toMatch(/must be one of/);
    expect(issues({ ...base, provider: "meilisearch", api_key: "a", api_key_env: "B" })).toEqual([
      "give api_key or api_key_env, not both",
    ]);
    expect(issues({ ...base, provider: "elasticsearch", username: "u" })).toEqual([
      "username and password_env go together",
    ]);
    expect(issues({ ...base, provider: "meilisearch", refresh: "true" })[0]).toMatch(
      /elasticsearch only/,
    );
    expect(issues({ ...base, provider: "elasticsearch", primary_key: "id" })[0]).toMatch(
      /meilisearch only/,
    );
    expect(issues({ ...base, provider: "elasticsearch", extra: 1 })).toHaveLength(1);
    expect(issues({ ...base, provider: "elasticsearch" })).toEqual([]);
  });
});

describe("ids and index names from row data", () => {
  // Each would address something other than one document: `..` normalises away, so
  // `DELETE /orders/_doc/..` is `DELETE /orders/` (Elasticsearch deletes the index).
  const HOSTILE = [
    ".",
    "..",
    "%2e",
    "%2E%2E",
    ".%2e",
    "%252e%252E",
    "．．",
    "",
    "a/b",
    "../orders",
    "a%2Fb",
    "a\\b",
    "a?b=1",
    "a#b",
    "a\nb",
    "a\u0000b",
    "a\u0085b",
  ];
  const providers = { meilisearch: meili, elasticsearch: elastic };

  describe.each(Object.entries(providers))("%s", (_name, provider) => {
    it.each(HOSTILE)("refuses the entity id %j for good, sending nothing", async (id) => {
      for (const event of [remove({ id }, { object_id: id }), insert({ id }, { object_id: id })]) {
        const failure = await actionFailure(send(provider(), event));
        expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_DOCUMENT_ID" });
        expect(failure.message).toContain("entity_id");
      }
      expect(receiver.requests).toHaveLength(0);
    });

    it.each(HOSTILE)("refuses an id_template rendering %j", async (id) => {
      const event = remove({ id: 1, key: id });
      const failure = await actionFailure(send(provider({ id_template: "{{ key }}" }), event));
      expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_DOCUMENT_ID" });
      expect(failure.message).toContain(JSON.stringify(id).slice(1, -1));
      expect(receiver.requests).toHaveLength(0);
    });

    it.each(HOSTILE)("refuses an index rendering %j", async (index) => {
      const event = remove({ id: 1, where: index });
      const failure = await actionFailure(send(provider({ index: "{{ where }}" }), event));
      expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_SEARCH_TARGET" });
      expect(receiver.requests).toHaveLength(0);
    });

    it("sends every other id to its own document, encoded so it arrives unchanged", async () => {
      receiver.reply(() => ({ status: 200, body: "{}" }));
      const ids = [".hidden", "a..b", "...", "a.", "100%", "50%25", "ünï ✓", "a b+c&d=e", "'()*!~"];
      for (const id of ids) {
        const { request } = await send(provider(), remove({ id }, { object_id: id }));
        const path = request.path.split("?")[0] as string;
        const segments = path.split("/");
        expect(segments.at(-1)).not.toBe("");
        expect(decodeURIComponent(segments.at(-1) as string)).toBe(id);
        expect(segments.at(-2)).toBe(provider === meili ? "documents" : "_doc");
      }
    });
  });
});
