import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  GENERATED_CONSOLE_ASSETS_PATH,
  loadConsoleAssets,
  renderConsoleAssets,
} from "../../scripts/generate-console-assets.ts";
import { CONSOLE_ASSETS } from "../../src/api/console-assets.generated.ts";

const inflated = (gzip: string) => gunzipSync(Buffer.from(gzip, "base64")).toString("utf8");

describe("the console's assets (src/api/console-assets.generated.ts)", () => {
  const assets = loadConsoleAssets();

  it("are current: the checked-in module holds console/ as it is", () => {
    // On failure: run `npm run generate:console-assets` and commit the module.
    const generated = readFileSync(GENERATED_CONSOLE_ASSETS_PATH, "utf8");
    expect(generated.split("gzip:")[0]).toBe(renderConsoleAssets(assets).split("gzip:")[0]);
    for (const asset of assets) {
      const served = CONSOLE_ASSETS[asset.role];
      expect(served.file).toBe(asset.file);
      expect(served.type).toBe(asset.type);
      expect(inflated(served.gzip) === asset.text, asset.file).toBe(true);
    }
    expect(CONSOLE_ASSETS.script.file).toMatch(/^console\.[0-9a-f]{10}\.js$/);
    expect(CONSOLE_ASSETS.style.file).toMatch(/^console\.[0-9a-f]{10}\.css$/);
  });

  it("never turn data into HTML: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval", () => {
    const script = CONSOLE_ASSETS.script.gzip ? inflated(CONSOLE_ASSETS.script.gzip) : "";
    expect(script).not.toMatch(
      /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment/,
    );
  });

  it("stay small: the console adds under 20 KiB (gzipped) to a bundle", () => {
    const bytes = Object.values(CONSOLE_ASSETS).reduce(
      (sum, asset) => sum + Buffer.from(asset.gzip, "base64").length,
      0,
    );
    expect(bytes).toBeLessThan(20 * 1024);
  });
});
