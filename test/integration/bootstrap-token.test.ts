/** The generated admin token: created once, ever, even when several servers start together. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BOOTSTRAP_KEY_NAME,
  ensureBootstrapAdminToken,
  findApiKey,
  hasGlobalAdminKey,
  hashToken,
  insertApiKey,
} from "../../src/store/api-keys.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let sequential: TestDatabase;
let concurrent: TestDatabase;
let keys: TestDatabase;

beforeAll(async () => {
  [sequential, concurrent, keys] = await Promise.all([
    createTestDatabase("bootstrap_seq"),
    createTestDatabase("bootstrap_par"),
    createTestDatabase("bootstrap_keys"),
  ]);
});
afterAll(async () => {
  await Promise.all([sequential?.drop(), concurrent?.drop(), keys?.drop()]);
});

describe("ensureBootstrapAdminToken", () => {
  it("returns a token the first time, stored only as a hash, and null after that", async () => {
    const token = await ensureBootstrapAdminToken(sequential.client);
    expect(token).toMatch(/^obs_[A-Za-z0-9_-]{43}$/);
    expect(await ensureBootstrapAdminToken(sequential.client)).toBeNull();
    const key = await findApiKey(sequential.client, token as string);
    expect(key).toMatchObject({ name: BOOTSTRAP_KEY_NAME, scope: "admin", fk_customer_org: null });
    const rows = await sequential.sql`SELECT token_sha256, token_prefix FROM core.tb_api_key`;
    expect(rows).toEqual([
      {
        token_sha256: await hashToken(token as string),
        token_prefix: (token as string).slice(0, 8),
      },
    ]);
    expect(await findApiKey(sequential.client, "obs_not-the-token")).toBeNull();
  });

  it("yields exactly one token when called concurrently", async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => ensureBootstrapAdminToken(concurrent.client)),
    );
    expect(results.filter((token) => token !== null)).toHaveLength(1);
    const [row] = await concurrent.sql`SELECT count(*)::int AS n FROM core.tb_api_key`;
    expect(row?.n).toBe(1);
  });
});

describe("hasGlobalAdminKey (may a PostgreSQL-mode server start without OBSERVERS_ADMIN_TOKEN?)", () => {
  it("counts only live admin keys bound to no tenant", async () => {
    expect(await hasGlobalAdminKey(keys.client)).toBe(false);
    await insertApiKey(keys.client, { name: "reader", scope: "read" });
    await insertApiKey(keys.client, { name: "t7", scope: "admin", fk_customer_org: "7" });
    const { id } = await insertApiKey(keys.client, { name: "ops", scope: "admin" });
    await keys.sql`UPDATE core.tb_api_key SET deleted_at = now() WHERE id = ${id}`;
    expect(await hasGlobalAdminKey(keys.client)).toBe(false);
    await insertApiKey(keys.client, { name: "ops-2", scope: "admin" });
    expect(await hasGlobalAdminKey(keys.client)).toBe(true);
  });
});

describe("hashToken", () => {
  it("is SHA-256 as lowercase hex", async () => {
    expect(await hashToken("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
