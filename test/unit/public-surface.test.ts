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
import { LOADED, SURFACE } from "../support/public-surface.ts";

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
