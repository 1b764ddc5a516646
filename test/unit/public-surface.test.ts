/**
 * The package's public surface, reviewed: what each entry of package.json's `exports` map exports
 * (its runtime values; types go with them) and which packages importing it loads. A name added
 * to or dropped from an entry fails here until the list is updated on purpose, so store internals
 * or a heavy driver cannot leak into an entry by accident. The entries are read from the map
 * itself: each `./dist/X.js` target is built from `X.ts`.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; import: string; default: string }>;
  files: string[];
};
// tsconfig.build.json is JSON with whole-line comments.
const build = JSON.parse(
  readFileSync(join(root, "tsconfig.build.json"), "utf8").replace(/^\s*\/\/.*$/gm, ""),
) as { files: string[] };

/** `./dist/src/index.js` -> `src/index.ts`. */
function sourceOf(target: string): string {
  const match = /^\.\/dist\/(.+)\.js$/.exec(target);
  if (!match) throw new Error(`${target} is not a built module under ./dist`);
  return `${match[1]}.ts`;
}

const entries = Object.entries(pkg.exports).flatMap(([key, target]) =>
  typeof target === "string" ? [] : [{ key, target, source: sourceOf(target.import) }],
);

/** The runtime values each entry exports, sorted. */
const SURFACE: Record<string, string[]> = {
  ".": [
    "ACTION_TYPES",
    "ActionFailure",
    "ActionPolicyError",
    "BACKOFF_STRATEGIES",
    "BUILT_IN_ACTIONS",
    "ChangeEventError",
    "ConditionEvaluationError",
    "ConditionSyntaxError",
    "ConfigError",
    "ConflictError",
    "DEFAULT_ACTION_POLICY",
    "DEFAULT_PRIORITY",
    "DEFAULT_RETRY_CONFIG",
    "DEFAULT_TIMEOUT_MS",
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "InternalError",
    "LOG_LEVELS",
    "LimitError",
    "MAX_ATTEMPTS_LIMIT",
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_LENGTH",
    "MAX_ERROR_MESSAGE_CHARS",
    "MAX_OBSERVER_NAME_LENGTH",
    "MAX_RETRY_DELAY_MS",
    "MAX_TIMEOUT_MS",
    "MigrationError",
    "NOTIFY_CHANNEL",
    "NotFoundError",
    "ObserversError",
    "SERVER_ENV_VARS",
    "TEMPLATE_CACHE_SIZE",
    "TEMPLATE_ROOTS",
    "actionConfigSchema",
    "actionPolicyIssues",
    "actionRegistry",
    "cacheAction",
    "changeLogSqlImages",
    "checkResolvedTarget",
    "checkTarget",
    "classifyFailure",
    "compileCondition",
    "compileTemplate",
    "computeBackoff",
    "conditionToSql",
    "createActionRegistry",
    "createConditionCache",
    "createConsoleLogger",
    "createExecutor",
    "createKeyedLimiter",
    "createMatcher",
    "createObserverRuntime",
    "createSemaphore",
    "createUpstashCacheStore",
    "databaseAction",
    "defaultActionRegistry",
    "defaultConditionCache",
    "diffImages",
    "emailAction",
    "expectSuccess",
    "explainCondition",
    "explainMatch",
    "isServerVariable",
    "jobAction",
    "jsonEquals",
    "logAction",
    "nextAttemptDelay",
    "normalizeChangeEvent",
    "observerDefinitionSchema",
    "parseCondition",
    "parseConfig",
    "parseJson",
    "parseServerConfig",
    "pathText",
    "printCondition",
    "pushAction",
    "renderTemplate",
    "renderTemplateSegments",
    "requireSecret",
    "resolveSecret",
    "retryConfigSchema",
    "safeCompileCondition",
    "safeParseConfig",
    "searchAction",
    "secretRefusal",
    "sendHttp",
    "silentLogger",
    "slackAction",
    "smsAction",
    "stringifyJson",
    "systemClock",
    "templateIssues",
    "toObserversError",
    "webhookAction",
  ],
  "./http": [
    "AuthThrottle",
    "DEFAULT_API_LIMITS",
    "DEFAULT_PAGE_SIZE",
    "MAX_BODY_BYTES",
    "MAX_PAGE_SIZE",
    "createObserversApi",
    "openApiDocument",
  ],
  "./postgres": [
    "MIGRATIONS_DIR",
    "applyMigrations",
    "createPostgresClient",
    "isArrayTypeFetchFailure",
    "listenWithReconnect",
    "loadMigrations",
  ],
  "./embedded": ["createEmbeddedClient", "startEmbeddedSocket"],
  "./redis": ["createRedisCacheStore"],
  "./smtp": ["createSmtpTransport", "smtpFailure"],
  // The hosts' entries are being reshaped around `createObservers` (issue 16): review these lists
  // when that lands, and keep only what a host needs.
  "./bun": ["bunGlobal", "createBunRuntime", "createServerServices", "openServerDatabase"],
  "./deno": ["createDenoLiveHub", "createDenoRuntime", "denoGlobal"],
  "./workers": [
    "HUB_ORIGIN",
    "LiveHub",
    "MIGRATIONS",
    "PING",
    "PONG",
    "SUBSCRIPTION_HEADER",
    "Ticker",
    "WORKERS_DEFAULT_CONCURRENCY",
    "WORKERS_ENV_VARS",
    "cachedSchemaCheck",
    "checkSchema",
    "countingFetch",
    "createWorkersApi",
    "feedPosition",
    "hubName",
    "hubRevoke",
    "hubStub",
    "hubUpgrade",
    "hyperdriveClient",
    "lastTick",
    "publishLive",
    "reportTick",
    "runTick",
    "scheduleTick",
    "stringVars",
    "tickerStub",
    "toPublishedItems",
    "topicTag",
    "workersConfig",
    "workersEnvironment",
  ],
};

/** The packages importing each entry loads (test/support/loaded-packages.ts). */
const CORE_PACKAGES = ["lossless-json", "re2js", "valibot"];
const HTTP_PACKAGES = [
  "@hono/swagger-ui",
  "@hono/zod-openapi",
  "@valibot/to-json-schema",
  "hono",
  ...CORE_PACKAGES,
].sort();
const LOADED: Record<string, string[]> = {
  ".": CORE_PACKAGES,
  "./http": HTTP_PACKAGES,
  "./postgres": ["postgres"],
  // PGlite is an optional peer dependency: only this entry (and a server's embedded mode, through
  // a dynamic import) loads it.
  "./embedded": ["@electric-sql/pglite", "@electric-sql/pglite-socket"],
  "./redis": ["@redis/client"],
  "./smtp": ["nodemailer"],
  "./bun": [...HTTP_PACKAGES, "@redis/client", "nodemailer", "postgres"].sort(),
  "./deno": [...HTTP_PACKAGES, "@redis/client", "nodemailer", "postgres"].sort(),
  "./workers": [...HTTP_PACKAGES, "postgres"].sort(),
};

describe("the package's public surface", () => {
  it("lists every entry reviewed here, and only those", () => {
    expect(entries.map((e) => e.key).sort()).toEqual(Object.keys(SURFACE).sort());
    expect(Object.keys(LOADED).sort()).toEqual(Object.keys(SURFACE).sort());
  });

  it.each(entries)("$key exports the reviewed names", async ({ key, source }) => {
    const module = (await import(join(root, source))) as Record<string, unknown>;
    expect(Object.keys(module).sort()).toEqual(SURFACE[key]);
  });

  it.each(entries)("importing $key loads only its own dependencies", ({ key, source }) => {
    const result = spawnSync(
      process.execPath,
      [join(root, "test/support/loaded-packages.ts"), join(root, source)],
      { encoding: "utf8" },
    );
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual(LOADED[key]);
  });

  it("maps each entry to its built JavaScript and declarations, built from the listed sources", () => {
    for (const { key, target } of entries) {
      expect(target, key).toEqual({
        types: target.import.replace(/\.js$/, ".d.ts"),
        import: target.import,
        default: target.import,
      });
    }
    expect(pkg.main).toBe((pkg.exports["."] as { import: string }).import);
    expect(pkg.types).toBe((pkg.exports["."] as { types: string }).types);
    // tsc builds exactly the entries and the CLI; everything else comes in through their imports.
    const bin = Object.values(pkg.bin).map(sourceOf);
    expect(build.files.sort()).toEqual([...entries.map((e) => e.source), ...bin].sort());
    expect(pkg.files).toContain("dist");
  });
});
