/**
 * What a user does with the package: `npm pack` (its `prepack` builds dist/), then, in an empty
 * project (`npm init -y`, `"type": "module"`), `npm install <tarball>` with hono and valibot in
 * the package's ranges and postgres.js 4 (what the host apps import themselves; `npm install
 * postgres` gives 4, the package depends on 3), and use it from Node >= 20, Bun, Deno and a
 * Cloudflare Worker:
 * the Bun and Deno host apps serve their own routes and the mounted API on a port of their own and
 * receive the webhook of a change they make. The host scripts are in test/package/hosts/ and are copied
 * into the project, so they import the package by its name from node_modules, as a user's would.
 * Packed and installed once for the file (beforeAll); npm works from its cache (--prefer-offline).
 */
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/database.ts";
import { SURFACE } from "../support/public-surface.ts";

const root = join(import.meta.dirname, "../..");
const hosts = join(import.meta.dirname, "hosts");
const tool = (name: string) => join(root, "node_modules/.bin", name);
/** Node >= 20 as a user has it: the system's if there is one, else the one on PATH. */
const node = existsSync("/usr/bin/node") ? "/usr/bin/node" : "node";

// npm run (npm test) exports npm_* variables describing this repository; a child npm would read
// them as its own configuration, so children get the environment without them.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")),
);

/** How long a host app may run: its own waits are bounded well below this. */
const HOST_TIMEOUT_MS = 60_000;

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
  timeout = 120_000,
): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...cleanEnv, ...env },
    timeout,
  });
  if (result.error) {
    // A timeout kills the child: what it printed so far says where it hung.
    throw new Error(
      `${command} ${args.join(" ")}: ${result.error.message}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** Runs a command that must succeed; its stdout. */
function succeed(
  command: string,
  args: readonly string[],
  cwd: string,
  env?: Record<string, string | undefined>,
  timeout?: number,
): string {
  const result = run(command, args, cwd, env, timeout);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** The last line of a host script's output, as JSON (what it saw). */
function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as Record<string, unknown>;
}

/** The package's own dependencies a host app imports too, installed in the package's ranges. */
const SHARED_DEPENDENCIES = ["hono", "valibot"];
/**
 * The host's postgres.js as `npm install postgres` gives it today (4), outside the package's range
 * (3): the host's `sql` is a postgres.js 4 pool, and the package keeps its own 3 beside it. The
 * major is named so that a future major cannot change what this test installs.
 */
const HOST_POSTGRES = "postgres@4";
const { dependencies } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

let work: string;
let app: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fraiseql-tarball-"));
  const packDir = join(work, "pack");
  app = join(work, "app");
  mkdirSync(packDir);
  mkdirSync(app);
  succeed("npm", ["pack", "--pack-destination", packDir, "--silent"], root);
  const tarballs = readdirSync(packDir).filter((name) => name.endsWith(".tgz"));
  expect(tarballs).toHaveLength(1);
  succeed("npm", ["init", "-y"], app);
  const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as object;
  writeFileSync(join(app, "package.json"), JSON.stringify({ ...manifest, type: "module" }));
  succeed(
    "npm",
    [
      "install",
      join(packDir, tarballs[0] as string),
      // What the host apps import themselves, as docs/runtimes.md says: hono and valibot in the
      // package's ranges (npm shares one copy), postgres.js as a user gets it today.
      ...SHARED_DEPENDENCIES.map((name) => `${name}@${dependencies[name]}`),
      HOST_POSTGRES,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
    ],
    app,
  );
  cpSync(hosts, app, { recursive: true });
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** What each entry exports, by the name a user imports it with; all but `./embedded`, whose
 * PGlite (an optional peer dependency) the project does not install. */
const EXPECTED_EXPORTS = Object.fromEntries(
  Object.entries(SURFACE)
    .filter(([key]) => key !== "./embedded")
    .map(([key, names]) => [`fraiseql-observers${key.slice(1)}`, names]),
);
const SPECIFIERS = Object.keys(EXPECTED_EXPORTS);

describe("the packed tarball, installed into an empty project", () => {
  it("ships the build, the migrations, the docs and the licence, and no sources or tests", () => {
    const installed = join(app, "node_modules/fraiseql-observers");
    // node_modules is npm's doing (the package's own postgres.js 3, below), not shipped.
    const top = readdirSync(installed)
      .filter((name) => name !== "node_modules")
      .sort();
    expect(top).toEqual(["LICENSE", "README.md", "dist", "docs", "package.json"]);
    expect(readdirSync(join(installed, "dist")).sort()).toEqual([
      "adapters",
      "bin",
      "migrations",
      "src",
    ]);
    // The host's own hono and valibot are the package's: one copy of each. Its postgres.js is 4,
    // and the package's own 3 is installed under the package.
    expect(readdirSync(join(installed, "node_modules"))).toEqual(["postgres"]);
    const major = (dir: string) =>
      (
        JSON.parse(readFileSync(join(dir, "postgres/package.json"), "utf8")) as { version: string }
      ).version.split(".")[0];
    expect(major(join(app, "node_modules"))).toBe("4");
    expect(major(join(installed, "node_modules"))).toBe("3");
    const sql = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".sql"));
    expect(sql(join(installed, "dist/migrations"))).toEqual(sql(join(root, "migrations")));
  });

  it("runs on Node >= 20: the core, ./http, and ./postgres migrating an empty database", async () => {
    const version = succeed(node, ["--version"], app).trim();
    expect(Number(/^v(\d+)\./.exec(version)?.[1])).toBeGreaterThanOrEqual(20);
    const database = await createTestDatabase("tarball_node", { migrated: false });
    try {
      const seen = lastJson(succeed(node, ["node-core.js"], app, { DATABASE_URL: database.url }));
      expect(seen).toEqual({
        node: version.slice(1),
        printed: "status == 'shipped' && total > 10",
        matches: true,
        registry: { webhook: true, audit: true },
        createObserversApi: "function",
        applied: readdirSync(join(root, "migrations"))
          .filter((name) => name.endsWith(".sql"))
          .sort(),
      });
    } finally {
      await database.drop();
    }
  }, 60_000);

  it("the CLI runs from the built bin on Node >= 20", () => {
    const check = succeed(
      node,
      ["node_modules/fraiseql-observers/dist/bin/fraiseql-observers.js", "check", "a==1"],
      app,
    );
    expect(check).toBe("a == 1\n");
    // What `npx fraiseql-observers` runs: npm's link to the package's `bin`.
    const linked = succeed(
      join(app, "node_modules/.bin/fraiseql-observers"),
      ["check", "a==1"],
      app,
    );
    expect(linked).toBe("a == 1\n");
    // Observers files: the yaml dependency resolves from the installed package.
    writeFileSync(
      join(app, "observers.yaml"),
      "observers:\n  - name: a\n    actions: [{ type: webhook, url: 'https://example.com/' }]\n",
    );
    expect(
      succeed(
        node,
        [
          "node_modules/fraiseql-observers/dist/bin/fraiseql-observers.js",
          "validate-config",
          "observers.yaml",
        ],
        app,
      ),
    ).toBe("observers.yaml: 1 observer(s), valid\n");
  });

  it.each([
    { runtime: "Node", command: node, args: ["entries.js"] },
    { runtime: "Bun", command: tool("bun"), args: ["entries.js"] },
    {
      runtime: "Deno",
      command: tool("deno"),
      // node_modules as npm laid it out (the user's `npm install`), not Deno's own npm cache.
      args: ["run", "-A", "--node-modules-dir=manual", "entries.js"],
    },
  ])("every entry imports on $runtime and exports the reviewed names", ({ command, args }) => {
    const seen = lastJson(succeed(command, [...args, ...SPECIFIERS], app));
    expect(seen).toEqual({ exports: EXPECTED_EXPORTS, evaluated: true });
  });

  it("./embedded without PGlite (an optional peer) fails naming the package to install", () => {
    const result = run(
      node,
      ["--input-type=module", "-e", 'await import("fraiseql-observers/embedded")'],
      app,
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("@electric-sql/pglite");
  });

  it("the declarations resolve: a TypeScript consumer typechecks (nodenext)", () => {
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          // The dependencies' own declarations need @types/node, which this project does not
          // have; ours are checked through their use (types-consumer.ts fails if one is `any`).
          skipLibCheck: true,
          lib: ["ES2023", "DOM", "DOM.Iterable"],
          types: [],
          // The host scripts import each other by their .ts names, as Bun and Deno run them.
          allowImportingTsExtensions: true,
        },
        files: [
          "types-consumer.ts",
          "host-app.ts",
          "bun-host.ts",
          "deno-host.ts",
          "worker-host.ts",
        ],
      }),
    );
    const result = run(tool("tsc"), ["-p", "tsconfig.json"], app);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  /** What the Bun and Deno host apps see (test/package/hosts/host-app.ts). */
  const HOST_SAW = {
    hostHome: "200 host home",
    hostApi: "200 host route",
    unauthenticated: 401,
    list: 200,
    prefixed: 200,
    docs: 200,
    console: 200,
    documented: true,
    created: 201,
    warnings: [],
    refused: 400,
    webhook: {
      path: "/hooks",
      entity_type: "Order",
      event_type: "INSERT",
      sameRow: true,
      status: "from-host",
    },
    audited: [{ label: "new order", entity_type: "Order", event_type: "INSERT" }],
    live: { ready: true, change: { entity_type: "Order", event_type: "INSERT" } },
    liveClosed: 1001,
    afterStop: 1,
  };

  it.each([
    { runtime: "Bun", command: tool("bun"), args: ["bun-host.ts"] },
    {
      runtime: "Deno",
      command: tool("deno"),
      args: ["run", "-A", "--node-modules-dir=manual", "deno-host.ts"],
    },
  ])(
    "a $runtime host app serves its routes and the mounted API, and delivers a webhook to itself",
    async ({ runtime, command, args }) => {
      const database = await createTestDatabase(`tarball_${runtime.toLowerCase()}`, {
        migrated: false,
      });
      try {
        const seen = lastJson(
          succeed(command, args, app, { DATABASE_URL: database.url }, HOST_TIMEOUT_MS),
        );
        expect(seen).toEqual(HOST_SAW);
      } finally {
        await database.drop();
      }
    },
    90_000,
  );

  it("a host Worker with the Durable Objects builds with wrangler deploy --dry-run", () => {
    const outdir = join(work, "worker-host");
    const out = succeed(
      tool("wrangler"),
      ["deploy", "--dry-run", "--outdir", outdir, "--config", "wrangler.toml"],
      app,
    );
    expect(out).toContain("env.HYPERDRIVE");
    expect(readdirSync(outdir)).toContain("worker-host.js");
  }, 60_000);
});
