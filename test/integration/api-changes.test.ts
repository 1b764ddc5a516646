/**
 * `GET /api/observers/changes` over HTTP (every response checked against the OpenAPI document):
 * newest first, each filter alone and combined, keyset pages that neither skip nor repeat while
 * changes arrive, tenant isolation, the explanation links, and a 400 naming each bad parameter.
 * Plus `POST /api/observers/validate`, which the console's condition editor calls as you type.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createObserversApi } from "../../src/api/app.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { apiClient, problem } from "../support/api-client.ts";
import { insertChange } from "../support/changes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-changes-tests";
let db: TestDatabase;
let call: ReturnType<typeof apiClient>;
const tokens = { t7: "", read7: "" };
/** Event ids in insertion order (oldest first). */
const ids: string[] = [];

interface Change {
  event_id: string;
  entity_type: string;
  entity_id: string | null;
  event_type: string;
  fk_customer_org: number | null;
  trace_id: string | null;
  created_at: string;
  links: { explain: string; console: string };
}
interface ChangePage {
  data: Change[];
  next_cursor: string | null;
}

async function list(query: string, token?: string): Promise<ChangePage> {
  const response = await call(
    "GET",
    `/api/observers/changes${query}`,
    undefined,
    token === undefined ? {} : { token },
  );
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as ChangePage;
}

/** Every page of a query, following next_cursor. */
async function allPages(query: string, token?: string): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? "&" : "?";
    const page: ChangePage = await list(`${query}${cursor ? `${sep}cursor=${cursor}` : ""}`, token);
    pages.push(page.data.map((c) => c.event_id));
    cursor = page.next_cursor;
  } while (cursor !== null && pages.length < 50);
  return pages;
}

beforeAll(async () => {
  db = await createTestDatabase("api_changes");
  const app = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
  });
  call = apiClient(app, ADMIN);
  tokens.t7 = (
    await insertApiKey(db.client, { name: "t7", scope: "admin", fk_customer_org: "7" })
  ).token;
  tokens.read7 = (
    await insertApiKey(db.client, { name: "r7", scope: "read", fk_customer_org: "7" })
  ).token;
  // 12 changes, one minute apart: Orders and Users, tenants 7, 8 and none, every event type.
  const seeds = [
    { entity: "Order", type: "INSERT", org: 7, objectId: "o1" },
    { entity: "Order", type: "UPDATE", org: 7, objectId: "o1" },
    { entity: "User", type: "INSERT", org: 8, objectId: "u1" },
    { entity: "Order", type: "INSERT", org: 8, objectId: "o2" },
    { entity: "User", type: "UPDATE", org: 7, objectId: "u2" },
    { entity: "Order", type: "DELETE", org: 7, objectId: "o1" },
    { entity: "Order", type: "INSERT", org: null, objectId: "o3" },
    { entity: "User", type: "DELETE", org: 8, objectId: "u1" },
    { entity: "Order", type: "UPDATE", org: 7, objectId: "o4" },
    { entity: "Order", type: "NOOP", org: 7, objectId: "o4" },
    { entity: "User", type: "INSERT", org: 7, objectId: "u3" },
    { entity: "Order", type: "UPDATE", org: 8, objectId: "o2" },
  ];
  for (const [i, seed] of seeds.entries()) {
    const at = new Date(Date.UTC(2026, 0, 1, 12, i)).toISOString();
    ids.push(await insertChange(db.sql, { ...seed, at }));
  }
});

afterAll(() => db?.drop());

describe("GET /api/observers/changes", () => {
  it("lists changes newest first, each with its event id and links to its explanation", async () => {
    const page = await list("");
    expect(page.data.map((c) => c.event_id)).toEqual([...ids].reverse());
    expect(page.next_cursor).toBeNull();
    expect(page.data[0]).toEqual({
      event_id: ids[11],
      entity_type: "Order",
      entity_id: "o2",
      event_type: "UPDATE",
      fk_customer_org: 8,
      trace_id: null,
      created_at: "2026-01-01T12:11:00.000Z",
      links: {
        explain: `events/${ids[11]}/explain`,
        console: `console/#/changes/${ids[11]}`,
      },
    });
    // NOOP reads as CUSTOM, as the runtime reads it.
    expect(page.data.find((c) => c.event_id === ids[9])?.event_type).toBe("CUSTOM");
  });

  it("resolves its explain link, relative to the list's URL, to the explanation", async () => {
    const [first] = (await list("?limit=1")).data;
    if (!first) throw new Error("no change listed");
    const url = new URL(first.links.explain, "http://api.test/api/observers/changes");
    const response = await call("GET", url.pathname);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ event: { event_id: first.event_id } });
  });

  it("filters by entity type, event type, entity id and time range, combined", async () => {
    const eventIds = async (query: string) => (await list(query)).data.map((c) => c.event_id);
    expect(await eventIds("?entity_type=User")).toEqual([ids[10], ids[7], ids[4], ids[2]]);
    expect(await eventIds("?event_type=DELETE")).toEqual([ids[7], ids[5]]);
    expect(await eventIds("?event_type=CUSTOM")).toEqual([ids[9]]);
    expect(await eventIds("?entity_id=o1")).toEqual([ids[5], ids[1], ids[0]]);
    expect(await eventIds("?since=2026-01-01T12:03:00Z&until=2026-01-01T12:06:00Z")).toEqual([
      ids[5],
      ids[4],
      ids[3],
    ]);
    expect(
      await eventIds("?entity_type=Order&event_type=UPDATE&since=2026-01-01T12:02:00%2B00:00"),
    ).toEqual([ids[11], ids[8]]);
    expect(await eventIds("?entity_type=Nothing")).toEqual([]);
  });

  it("pages by keyset: every change once, in order, even while new ones arrive", async () => {
    const pages = await allPages("?limit=5");
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(pages.flat()).toEqual([...ids].reverse());

    // A change arriving between two pages does not shift the next page.
    const first = await list("?limit=5");
    const late = await insertChange(db.sql, {
      entity: "Late",
      at: "2026-01-01T13:00:00Z",
      org: 9,
    });
    const second = await list(`?limit=5&cursor=${first.next_cursor}`);
    expect(second.data.map((c) => c.event_id)).toEqual(pages[1]);
    expect((await list("?limit=1")).data[0]?.event_id).toBe(late);
    await db.sql`DELETE FROM core.tb_entity_change_log WHERE object_type = 'Late'`;

    // Filters hold across pages.
    const orders = await allPages("?entity_type=Order&limit=3");
    expect(orders.flat()).toEqual([0, 1, 3, 5, 6, 8, 9, 11].map((i) => ids[i]).reverse());
  });

  it("shows a tenant-bound key its tenant's changes only, whatever it asks", async () => {
    const own = [0, 1, 4, 5, 8, 9, 10].map((i) => ids[i]).reverse();
    expect((await allPages("?limit=3", tokens.t7)).flat()).toEqual(own);
    // A read key may list them too.
    expect((await list("", tokens.read7)).data.map((c) => c.event_id)).toEqual(own);
    // Filters cannot reach another tenant's changes: tenant 8's User changes stay hidden.
    expect((await list("?entity_type=User&entity_id=u1", tokens.t7)).data).toEqual([]);
    // Nor can the global change (no tenant).
    expect((await list("?entity_id=o3", tokens.t7)).data).toEqual([]);
    expect((await list("?entity_id=o3")).data.map((c) => c.event_id)).toEqual([ids[6]]);
  });

  it("answers 400 naming each bad parameter", async () => {
    const bad = async (query: string) =>
      (await problem(await call("GET", `/api/observers/changes${query}`), 400)).issues ?? [];
    expect(await bad("?limit=0")).toEqual([expect.objectContaining({ path: "limit" })]);
    expect(await bad("?limit=101")).toEqual([expect.objectContaining({ path: "limit" })]);
    expect(await bad("?limit=ten")).toEqual([expect.objectContaining({ path: "limit" })]);
    expect(await bad("?event_type=UPSERT")).toEqual([
      expect.objectContaining({ path: "event_type" }),
    ]);
    expect(await bad("?since=yesterday")).toEqual([expect.objectContaining({ path: "since" })]);
    expect(await bad("?until=2026-01-01")).toEqual([expect.objectContaining({ path: "until" })]);
    expect(await bad("?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z")).toEqual([
      expect.objectContaining({ path: "since" }),
    ]);
    expect(await bad("?entity_type=")).toEqual([expect.objectContaining({ path: "entity_type" })]);
    for (const cursor of ["abc", "-1", "0", "99999999999999999999", "1.5"]) {
      expect(await bad(`?cursor=${cursor}`), cursor).toEqual([
        expect.objectContaining({ path: "cursor" }),
      ]);
    }
  });

  it("needs a token", async () => {
    await problem(await call("GET", "/api/observers/changes", undefined, { token: null }), 401);
  });
});

describe("POST /api/observers/validate", () => {
  it("says whether a condition parses, with each issue's position, and saves nothing", async () => {
    const ok = await call("POST", "/api/observers/validate", {
      condition_expression: "total > 100 && status == 'paid'",
    });
    expect(await ok.json()).toEqual({ valid: true, issues: [] });
    const broken = await call("POST", "/api/observers/validate", {
      condition_expression: "total > ",
    });
    expect(broken.status).toBe(200);
    const answer = (await broken.json()) as { valid: boolean; issues: { position: number }[] };
    expect(answer.valid).toBe(false);
    expect(answer.issues[0]?.position).toBe(8);
  });

  it("is open to read keys, and refuses a body without the condition", async () => {
    const response = await call(
      "POST",
      "/api/observers/validate",
      { condition_expression: "a == 1" },
      { token: tokens.read7 },
    );
    expect(response.status).toBe(200);
    const issues = (await problem(await call("POST", "/api/observers/validate", {}), 400)).issues;
    expect(issues).toEqual([expect.objectContaining({ path: "condition_expression" })]);
  });
});
