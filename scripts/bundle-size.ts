/**
 * `npm run bundle:size`: builds the Worker as `wrangler deploy` would (`--dry-run --outdir`) and
 * prints its size, raw and gzipped, against the budget; exits 1 above it (2 when the build fails).
 *
 * Budget: 1 MiB gzipped and 4 MiB raw. Cloudflare's documented limits are 3 MB compressed on the
 * Free plan and 10 MB on Paid (newer docs give 64 MiB uncompressed on every plan); the budget
 * keeps a Free-plan deploy at a third of the strictest of them, and the raw figure bounds what an
 * isolate parses at startup (1 s limit). `--outdir <dir>` keeps the build there instead of a
 * temporary directory.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUDGET = { rawBytes: 4 * 1024 * 1024, gzipBytes: 1024 * 1024 };

const root = fileURLToPath(new URL("..", import.meta.url));

export interface BundleSize {
  rawBytes: number;
  gzipBytes: number;
  files: string[];
}

/** Builds the Worker into `outdir` with wrangler (the repository's wrangler.toml). */
export function buildWorker(outdir: string): void {
  const wrangler = join(root, "node_modules/.bin/wrangler");
  const result = spawnSync(
    wrangler,
    ["deploy", "--dry-run", "--outdir", outdir, "--config", join(root, "wrangler.toml")],
    { cwd: root, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  if (result.status !== 0) {
    throw new Error(`wrangler deploy --dry-run failed:\n${result.stdout}\n${result.stderr}`);
  }
}

/** The size of the modules in `outdir` (source maps and wrangler's README are not uploaded). */
export function measure(outdir: string): BundleSize {
  const files = readdirSync(outdir).filter((f) => /\.(m?js|wasm|bin|txt|html)$/.test(f));
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const file of files) {
    const bytes = readFileSync(join(outdir, file));
    rawBytes += bytes.length;
    gzipBytes += gzipSync(bytes).length;
  }
  return { rawBytes, gzipBytes, files };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function main(): number {
  const at = process.argv.indexOf("--outdir");
  const kept = at >= 0 ? process.argv[at + 1] : undefined;
  const outdir = kept ?? mkdtempSync(join(tmpdir(), "worker-bundle-"));
  try {
    try {
      buildWorker(outdir);
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
      return 2;
    }
    const size = measure(outdir);
    const ok = size.rawBytes <= BUDGET.rawBytes && size.gzipBytes <= BUDGET.gzipBytes;
    console.log(
      `worker bundle (${size.files.join(", ")}): ${kib(size.rawBytes)} raw (budget ${kib(BUDGET.rawBytes)}), ` +
        `${kib(size.gzipBytes)} gzip (budget ${kib(BUDGET.gzipBytes)}): ${ok ? "within budget" : "OVER BUDGET"}`,
    );
    return ok ? 0 : 1;
  } finally {
    if (!kept) rmSync(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(main());
}
