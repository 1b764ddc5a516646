/**
 * `npm run create-key -- --name ops --scope admin [--tenant 42]`: creates an API key in the
 * database at DATABASE_URL and prints its token once, to this terminal only (stdout, alone on its
 * line, so `TOKEN=$(npm run -s create-key -- ...)` works; what it did goes to stderr). This is how
 * a PostgreSQL-mode server gets its first admin key without OBSERVERS_ADMIN_TOKEN: the server
 * itself never prints a token there. Like the server, it applies the migrations first unless
 * OBSERVERS_MIGRATE is off, so it works on a database nothing has touched yet. Exit codes: 0
 * created, 1 failed, 2 bad usage, DATABASE_URL unset or OBSERVERS_MIGRATE invalid.
 */
import { parseArgs } from "node:util";
import { parseServerConfig } from "../../../src/config/server-config.ts";
import { ConfigError } from "../../../src/errors.ts";
import { insertApiKey } from "../../../src/store/api-keys.ts";
import { applyMigrations } from "../../../src/store/migrate.ts";
import { loadMigrations } from "./migrations-dir.ts";
import { createPostgresClient } from "./postgres-client.ts";

const USAGE =
  "usage: npm run create-key -- --name <name> --scope admin|read [--tenant <customer org id>]";

type Parsed = { name: string; scope: "admin" | "read"; tenant: string | null };

function parse(argv: string[]): Parsed | string {
  let values: {
    name?: string | undefined;
    scope?: string | undefined;
    tenant?: string | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        name: { type: "string" },
        scope: { type: "string" },
        tenant: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const name = values.name?.trim() ?? "";
  if (name === "" || name.length > 255) return "--name is required (1 to 255 characters)";
  if (values.scope !== "admin" && values.scope !== "read") {
    return "--scope is required: admin (may change everything) or read";
  }
  const tenant = values.tenant ?? null;
  if (tenant !== null && !/^-?\d{1,19}$/.test(tenant)) {
    return "--tenant must be a customer org id (an integer)";
  }
  return { name, scope: values.scope, tenant };
}

async function main(): Promise<number> {
  const parsed = parse(process.argv.slice(2));
  if (typeof parsed === "string") {
    console.error(`${parsed}\n${USAGE}`);
    return 2;
  }
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error(
      "DATABASE_URL is not set: point it at the server's PostgreSQL, e.g. DATABASE_URL=postgres://user@host:5432/db npm run create-key -- --name ops --scope admin",
    );
    return 2;
  }
  let migrate: boolean;
  try {
    migrate = parseServerConfig({ OBSERVERS_MIGRATE: process.env.OBSERVERS_MIGRATE }).migrate;
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : String(error));
    return 2;
  }
  const client = createPostgresClient(url, { max: 1, connectTimeoutSeconds: 10 });
  try {
    if (migrate) {
      const { applied } = await applyMigrations(client, loadMigrations());
      for (const name of applied) console.error(`applied ${name}`);
    }
    const { id, token } = await insertApiKey(client, {
      name: parsed.name,
      scope: parsed.scope,
      fk_customer_org: parsed.tenant,
    });
    const bound = parsed.tenant === null ? "every tenant" : `tenant ${parsed.tenant}`;
    console.error(
      `created ${parsed.scope} key "${parsed.name}" (${id}) for ${bound}. The token below is ` +
        "shown this once and stored only as a hash; send it as `Authorization: Bearer <token>`.",
    );
    console.log(token);
    return 0;
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    const hint =
      !migrate && /tb_api_key/.test(reason)
        ? " (OBSERVERS_MIGRATE is off: run `npm run migrate` first)"
        : "";
    console.error(`creating the key failed: ${reason}${hint}`);
    return 1;
  } finally {
    await client.close().catch(() => {});
  }
}

process.exit(await main());
