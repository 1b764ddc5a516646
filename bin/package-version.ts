import { existsSync, readFileSync } from "node:fs";

/**
 * The package's version, from its own package.json: one level above this module when it runs
 * from the sources (bin/), two when built (dist/bin/, as installed from the tarball). Looking
 * for the manifest named fraiseql-observers, rather than trusting one depth, keeps a host's own
 * package.json from answering.
 */
export function packageVersion(from: string | URL = import.meta.url): string {
  for (const up of ["../package.json", "../../package.json"]) {
    const file = new URL(up, from);
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, "utf8")) as {
      name?: unknown;
      version?: unknown;
    };
    if (manifest.name === "fraiseql-observers" && typeof manifest.version === "string") {
      return manifest.version;
    }
  }
  throw new Error(`no package.json of fraiseql-observers above ${String(from)}`);
}
