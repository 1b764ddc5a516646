/**
 * The source readers the Bun and Deno servers ship, by kind, each loaded on first use (their
 * client libraries are optional peers: a server without sources never loads them). A kind whose
 * reader is not here is refused by `POST /api/sources` (422 SOURCE_KIND_UNAVAILABLE) and, for a
 * row written some other way, fails on the source with the same code.
 */
import {
  SOURCE_KINDS,
  SourceError,
  type SourceKind,
  type SourceReader,
} from "../../../src/ports/source.ts";

const LOADERS: Readonly<Record<SourceKind, (() => Promise<SourceReader>) | null>> = {
  mysql: async () => (await import("../../drivers/mysql/index.ts")).createMysqlReader(),
  sqlserver: async () => (await import("../../drivers/sqlserver/index.ts")).createSqlServerReader(),
};

/** The kinds this server can read. */
export const AVAILABLE_SOURCE_KINDS: readonly SourceKind[] = SOURCE_KINDS.filter(
  (kind) => LOADERS[kind] !== null,
);

/** The reader of `kind`, or a `SourceError` saying this server does not ship it. */
export async function loadSourceReader(kind: SourceKind): Promise<SourceReader> {
  const load = LOADERS[kind];
  if (!load) {
    throw new SourceError(
      "SOURCE_KIND_UNAVAILABLE",
      `this server has no reader for sources of kind ${kind}`,
      false,
    );
  }
  return load();
}
