/**
 * The Bun server behind a trusted proxy (`OBSERVERS_TRUSTED_PROXIES`: the test connects from
 * 127.0.0.1, so it plays the proxy): failed authentications are counted per forwarded client, a
 * throttled client's valid API key is served, and without the setting the header is ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertApiKey } from "../../src/store/api-keys.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type ServerProcess, startServer } from "../support/server-process.ts";

let db: TestDatabase;
const servers: ServerProcess[] = [];
let key = "";

beforeAll(async () => {
  db = await createTestDatabase("e2e_trusted_proxies");
  servers.push(
    await startServer({ DATABASE_URL: db.url, OBSERVERS_TRUSTED_PROXIES: "127.0.0.1, ::1" }),
  );
  servers.push(await startServer({ DATABASE_URL: db.url, OBSERVERS_MIGRATE: "off" }));
  key = (await insertApiKey(db.client, { name: "shared-nat", scope: "read" })).token;
});
afterAll(async () => {
  for (const server of servers) await server.kill9();
  await db?.drop();
});

function get(server: ServerProcess, token: string, forwardedFor: string): Promise<Response> {
  return fetch(`${server.url}/api/observers`, {
    headers: { authorization: `Bearer ${token}`, "x-forwarded-for": forwardedFor },
  });
}

/** Eleven invalid tokens from `client`: the free ones; the next invalid one gets 429. */
async function exhaust(server: ServerProcess, client: string): Promise<void> {
  for (let i = 0; i < 11; i++) {
    expect((await get(server, "not-a-token", client)).status).toBe(401);
  }
  const throttled = await get(server, "not-a-token", client);
  expect(throttled.status).toBe(429);
  expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
}

describe("failed-auth throttling behind a proxy", () => {
  it("counts each forwarded client apart, and serves a throttled client's valid key", async () => {
    const [behind] = servers as [ServerProcess];
    await exhaust(behind, "198.51.100.1");
    // Another client behind the same proxy is not locked out, even with the admin token.
    expect((await get(behind, behind.token, "198.51.100.2")).status).toBe(200);
    // The throttled client's own valid API key is served; its guesses still get 429.
    expect((await get(behind, key, "198.51.100.1")).status).toBe(200);
    expect((await get(behind, "not-a-token", "198.51.100.1")).status).toBe(429);
  });

  it("ignores the header without trusted proxies: every client is the peer", async () => {
    const direct = servers[1] as ServerProcess;
    await exhaust(direct, "198.51.100.3");
    expect((await get(direct, "not-a-token", "198.51.100.4")).status).toBe(429);
    // A valid key from the same address is still served.
    expect((await get(direct, key, "198.51.100.4")).status).toBe(200);
  });
});
