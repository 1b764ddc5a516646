/**
 * The documentation a newcomer reads holds together: every relative link (and its #anchor) leads
 * somewhere, the README stays a front page, and CI runs exactly the README's test command.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { observerDefinitionSchema } from "../../src/observers/schema.ts";

const root = join(import.meta.dirname, "../..");
const pages = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];
const read = (page: string) => readFileSync(join(root, page), "utf8");

/** GitHub's heading anchors: lowercased, punctuation but `-` and `_` dropped, spaces to `-`. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading ?? "")
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** Relative Markdown links of a page (code blocks and absolute URLs left out). */
function links(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? "")
    .filter((target) => !/^[a-z]+:/i.test(target));
}

describe("documentation", () => {
  it("links only to files and headings that exist", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      for (const target of links(read(page))) {
        checked += 1;
        const [path = "", anchor] = target.split("#");
        const file = path === "" ? join(root, page) : join(root, dirname(page), path);
        if (!existsSync(file)) {
          broken.push(`${page}: ${target} (no ${relative(root, file)})`);
        } else if (anchor !== undefined && file.endsWith(".md")) {
          if (!anchors(readFileSync(file, "utf8")).has(anchor)) {
            broken.push(`${page}: ${target} (no heading #${anchor})`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  it("lists every observer field in the observer reference (docs/conditions.md)", () => {
    /** The object schema's field names, inside its pipes. */
    const fields = (schema: unknown): string[] => {
      const s = schema as { entries?: object; pipe?: unknown[] };
      if (s.entries) return Object.keys(s.entries);
      for (const inner of s.pipe ?? []) {
        const found = fields(inner);
        if (found.length > 0) return found;
      }
      return [];
    };
    const names = fields(observerDefinitionSchema);
    expect(names).toContain("on_dead_letter");
    const table = read("docs/conditions.md");
    const missing = names.filter((name) => !new RegExp(`^\\| [^|]*\`${name}\``, "m").test(table));
    expect(missing).toEqual([]);
  });

  it("gives rate_limit_per_second the bounds the schema enforces (0.001 to 10 000)", () => {
    for (const page of ["docs/actions.md", "docs/delivery.md"]) {
      const text = read(page).replace(/\s+/g, " ");
      expect(text, page).toMatch(/rate_limit_per_second[^.]*0\.001[^.]*10 000/);
    }
  });

  it("keeps the README a front page of at most 12 KB", () => {
    expect(Buffer.byteLength(read("README.md"))).toBeLessThanOrEqual(12 * 1024);
  });

  it("has CI run exactly the README's test command", () => {
    const command = read("README.md")
      .match(/^(.+?)\s+# test it/m)?.[1]
      ?.trim();
    expect(command).toBe("npm install && npm test");
    const ci = read(".ci/run").split("\n");
    expect(ci).toContain(command);
  });
});
