import { ROOT_CONSOLE_PATH } from "./console.ts";
import { ROOT_DOCS_PATH, ROOT_DOCUMENT_PATH } from "./docs.ts";
import { ROOT_METRICS_PATH } from "./routes/metrics.ts";

/** Where the API's paths start: it claims these and everything below them, nothing else. */
export const API_ROOTS = ["/api/observers", "/api/keys", "/api/jobs", "/api/sources"] as const;

/** The API's own paths as Hono patterns (`/x/*` also matches `/x`): its middleware's scope. */
export const OWN_PATHS = API_ROOTS.map((root) => `${root}/*`);

/** What a server owning its root (`rootDocs`) also answers there. */
const ROOT_DOCS = new Set([
  ROOT_DOCUMENT_PATH,
  ROOT_DOCS_PATH,
  `${ROOT_DOCS_PATH}/`,
  ROOT_CONSOLE_PATH,
  `${ROOT_CONSOLE_PATH}/`,
  ROOT_METRICS_PATH,
]);

/**
 * Whether the API answers `pathname` (mounted at the root): its own paths, and with `rootDocs`
 * the root-level document, docs page, console and metrics. A host routing by path asks this.
 */
export function isOwnPath(pathname: string, rootDocs = false): boolean {
  return (
    API_ROOTS.some((root) => pathname === root || pathname.startsWith(`${root}/`)) ||
    (rootDocs && ROOT_DOCS.has(pathname))
  );
}
