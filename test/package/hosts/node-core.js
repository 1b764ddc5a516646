// Run by test/package/tarball.test.ts with Node >= 20 inside a fresh project that installed the
// packed tarball: the core, `./http` and `./postgres` as a Node library user imports them. The
// database (DATABASE_URL) is empty: the migrations must come from the package. Prints JSON.
import {
  actionRegistry,
  compileCondition,
  normalizeChangeEvent,
  parseCondition,
  printCondition,
} from "fraiseql-observers";
import { createObserversApi } from "fraiseql-observers/http";
import { applyMigrations, createPostgresClient, loadMigrations } from "fraiseql-observers/postgres";
// A host's own action schema is a valibot schema: valibot is the app's own dependency, in the
// package's range (docs/actions.md), so npm keeps one copy.
import * as v from "valibot";

const parsed = parseCondition("status == 'shipped' && total > 10");
const event = normalizeChangeEvent({
  id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
  object_type: "Order",
  modification_type: "UPDATE",
  object_data: '{"status": "shipped", "total": 100}',
  object_data_before: '{"status": "pending", "total": 100}',
  created_at: "2026-11-27 10:00:00+00",
});
const registry = actionRegistry([
  {
    type: "audit",
    schema: v.strictObject({ type: v.literal("audit"), channel: v.string() }),
    destination: (config) => `audit:${config.channel}`,
    run: async () => ({ message: "audited" }),
  },
]);

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set");
const client = createPostgresClient(url);
let migrated;
try {
  migrated = await applyMigrations(client, loadMigrations());
} finally {
  await client.close();
}

console.log(
  JSON.stringify({
    node: process.versions.node,
    printed: parsed.success ? printCondition(parsed.ast) : parsed,
    matches: compileCondition("field_changed_to('status', 'shipped') && total == 100").evaluate(
      event,
    ),
    registry: {
      webhook: registry.get("webhook") !== undefined,
      audit: registry.get("audit") !== undefined,
    },
    createObserversApi: typeof createObserversApi,
    applied: migrated.applied,
  }),
);
