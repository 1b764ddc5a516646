import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  GENERATED_DOCS_ASSETS_PATH,
  GENERATED_DOCS_MANIFEST_PATH,
  loadDocsAssets,
  renderDocsAssetTexts,
  renderDocsManifest,
} from "../../scripts/generate-docs-assets.ts";
import { DOCS_ASSET_TEXTS } from "../../src/api/docs-assets.generated.ts";
import { DOCS_ASSETS, SWAGGER_UI_VERSION } from "../../src/api/docs-manifest.generated.ts";

describe("the docs page's Swagger UI assets (src/api/docs-*.generated.ts)", () => {
  const { version, assets } = loadDocsAssets();

  it("are current: the checked-in modules equal a fresh generation from swagger-ui-dist", () => {
    // On failure: run `npm run generate:docs-assets` and commit both modules.
    expect(readFileSync(GENERATED_DOCS_MANIFEST_PATH, "utf8")).toBe(
      renderDocsManifest(version, assets),
    );
    // Compared without printing 1.9 MB on failure.
    const checkedIn = readFileSync(GENERATED_DOCS_ASSETS_PATH, "utf8");
    expect(checkedIn === renderDocsAssetTexts(version, assets)).toBe(true);
  });

  it("hold the installed swagger-ui-dist's bundle and stylesheet under content-hashed names", () => {
    const installed = JSON.parse(
      readFileSync(new URL("../../node_modules/swagger-ui-dist/package.json", import.meta.url), {
        encoding: "utf8",
      }),
    ) as { version: string };
    expect(SWAGGER_UI_VERSION).toBe(installed.version);
    expect(DOCS_ASSETS.script.file).toMatch(/^swagger-ui-bundle\.[0-9a-f]{10}\.js$/);
    expect(DOCS_ASSETS.style.file).toMatch(/^swagger-ui\.[0-9a-f]{10}\.css$/);
    expect(Object.keys(DOCS_ASSET_TEXTS).sort()).toEqual(
      [DOCS_ASSETS.script.file, DOCS_ASSETS.style.file].sort(),
    );
    const script = DOCS_ASSET_TEXTS[DOCS_ASSETS.script.file] ?? "";
    expect(script).toContain("SwaggerUIBundle");
    // The licence notices travel with the code (Apache-2.0 asks for them).
    expect(script.slice(0, 20_000)).toContain("Apache License");
    const style = DOCS_ASSET_TEXTS[DOCS_ASSETS.style.file] ?? "";
    expect(style).toContain(".swagger-ui");
    expect(style).not.toContain("sourceMappingURL");
  });
});
