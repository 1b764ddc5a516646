/**
 * `npm run build` (and `prepack`, so `npm pack` always packs a fresh build): dist/ from scratch.
 * tsc emits JavaScript and declarations for the package's entries (tsconfig.build.json); the SQL
 * migrations are copied to dist/migrations, the place adapters/drivers/postgres/migrations-dir.ts
 * finds them from the built module (three levels up, as from the source). dist/ is removed first
 * so a module deleted from the sources never ships from an old build.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = `${root}dist`;

rmSync(dist, { recursive: true, force: true });
// `tsc` from node_modules/.bin, which `npm run` puts first on PATH (TypeScript 7 is a native binary
// behind a launcher its package does not export).
execFileSync("tsc", ["-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
  shell: process.platform === "win32",
});

mkdirSync(`${dist}/migrations`);
for (const name of readdirSync(`${root}migrations`)) {
  if (name.endsWith(".sql")) cpSync(`${root}migrations/${name}`, `${dist}/migrations/${name}`);
}
