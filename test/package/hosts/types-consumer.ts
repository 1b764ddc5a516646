// Typechecked by test/package/tarball.test.ts inside the fresh project (tsc, module and
// moduleResolution nodenext): the installed declarations resolve, and the types are real (each
// expect-error directive below fails the check if a type has decayed to `any`).
import {
  type ActionDefinition,
  type ActionRegistry,
  actionRegistry,
  type CompiledCondition,
  compileCondition,
  type ParseResult,
  parseCondition,
} from "fraiseql-observers";
import { createObserversApi, type ObserversApiOptions } from "fraiseql-observers/http";
import { loadMigrations, type Migration, type PostgresClient } from "fraiseql-observers/postgres";

const parsed: ParseResult = parseCondition("status == 'shipped'");
const compiled: CompiledCondition = compileCondition("total > 10");
const registry: ActionRegistry = actionRegistry([] as ActionDefinition[]);
const migrations: Migration[] = loadMigrations();
const version: number | undefined = migrations[0]?.version;

// @ts-expect-error: a condition is text
parseCondition(42);
// @ts-expect-error: a registry answers by type name
registry.get(1);
// @ts-expect-error: the API needs at least its SQL client, runtime and logger
createObserversApi({});

type Sql = ObserversApiOptions["sql"];
const asSql = (client: PostgresClient): Sql => client;

export { asSql, compiled, parsed, version };
