/** docs/configuration.md documents every variable the server reads, with its default. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SERVER_ENV_VARS } from "../../src/config/env-vars.ts";

const page = readFileSync(join(import.meta.dirname, "../../docs/configuration.md"), "utf8");
const rows = new Map<string, string>(
  [...page.matchAll(/^\| `([A-Z_]+)` \| ([^|]*) \|/gm)].map((m) => [
    m[1] ?? "",
    m[2]?.trim() ?? "",
  ]),
);

describe("docs/configuration.md", () => {
  it("has a row for every variable, with the default the server uses", () => {
    expect(SERVER_ENV_VARS.length).toBeGreaterThan(10);
    for (const variable of SERVER_ENV_VARS) {
      const documented = rows.get(variable.name);
      expect(documented, `${variable.name} is missing from docs/configuration.md`).toBeDefined();
      if (variable.default !== null) {
        expect(documented, variable.name).toContain(`\`${variable.default}\``);
      } else {
        expect(documented, variable.name).toMatch(/^unset/);
      }
    }
  });

  it("documents no variable the server does not read", () => {
    const known = new Set<string>(SERVER_ENV_VARS.map((v) => v.name));
    expect([...rows.keys()].filter((name) => !known.has(name))).toEqual([]);
  });
});
