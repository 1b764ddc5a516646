import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

/** The core may import only these packages: small, runtime-agnostic, and each earning its place. */
const ALLOWED_PACKAGES = new Set(["re2js", "lossless-json", "valibot", "croner"]);
/** ...and the HTTP API (src/api) these: Hono and its OpenAPI layer (the docs page's
 * assets are generated modules: scripts/generate-docs-assets.ts). */
const API_PACKAGES = new Set([
  "hono",
  "hono/body-limit",
  "hono/http-exception",
  "@hono/zod-openapi",
  "@valibot/to-json-schema",
]);
const root = join(import.meta.dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

describe("the core (src/)", () => {
  it("imports nothing but its own files and the allowed packages", () => {
    const offending: string[] = [];
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(
        /^\s*(?:import|export)\s[^;"']*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']/gm,
      )) {
        const specifier = (match[1] ?? match[2] ?? match[3]) as string;
        const inApi = relative(root, file).startsWith("api/");
        const allowed = ALLOWED_PACKAGES.has(specifier) || (inApi && API_PACKAGES.has(specifier));
        if (!specifier.startsWith(".") && !allowed) {
          offending.push(`${relative(root, file)}: ${specifier}`);
        }
      }
    }
    expect(sourceFiles(root).length).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });
});
