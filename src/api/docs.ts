/**
 * The API's OpenAPI document and interactive docs (Swagger UI) as served: from the package itself
 * (no CDN, so they work offline and on an air-gapped network), with every link relative to the
 * page, so they work wherever a host mounts the API and behind a proxy that adds a path prefix.
 *
 * Where things live, relative to the API's root (where `/api/observers/...` starts):
 * - `api/observers/openapi.json`: the document, with `servers: [{ url: "../.." }]`, the API's root
 *   relative to the document (OpenAPI resolves a relative server URL against where the document
 *   was fetched from), so a client or "Try it out" calls the right paths under any prefix.
 * - `api/observers/docs` (and `docs/`): the page. It links to the document and to the assets by
 *   URLs relative to its own URL, computed from whether that URL ends with a slash (both forms are
 *   served: a relative link cannot be right for both unless it knows which one the browser has).
 * - `api/observers/docs/<name>.<hash>.<ext>`: Swagger UI's script and stylesheet, cached for a
 *   year (a new release has a new name).
 * - With `rootDocs`, also `openapi.json` (`servers: [{ url: "." }]`) and `docs` at the root.
 */
import type { Context } from "hono";
import { DOCS_ASSETS } from "./docs-manifest.generated.ts";
import { problemResponse } from "./problem.ts";

/** The document's and page's paths under the API's root, and the root-level ones of `rootDocs`. */
export const DOCUMENT_PATH = "/api/observers/openapi.json";
export const DOCS_PATH = "/api/observers/docs";
export const ROOT_DOCUMENT_PATH = "/openapi.json";
export const ROOT_DOCS_PATH = "/docs";

/**
 * Boots Swagger UI from the page's `data-url` (made absolute, the base for the document's relative
 * server URL). No validator badge: it would load an image from validator.swagger.io. A constant,
 * so the page's Content-Security-Policy allows exactly it by its hash.
 */
const BOOT = `const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: new URL(root.dataset.url, document.baseURI).href,
  domNode: root,
  deepLinking: true,
  validatorUrl: null,
});`;

let bootHash: Promise<string> | undefined;

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * The page's policy: everything from its own origin only (no external origin for scripts, styles,
 * images or requests); the one inline script by its hash. Swagger UI sets inline styles, and its
 * stylesheet's icons are `data:` images.
 */
export async function docsPolicy(): Promise<string> {
  bootHash ??= sha256Base64(BOOT);
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${await bootHash}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
  ].join("; ");
}

/**
 * The relative URL of the API's root from the page at `pathname`, served for `routePath`: one
 * `../` per directory between them. The mount prefix needs no counting: it lies above the root.
 */
export function rootFrom(routePath: string, pathname: string): string {
  const depth = routePath.split("/").length - 2 + (pathname.endsWith("/") ? 1 : 0);
  return depth === 0 ? "./" : "../".repeat(depth);
}

/** The docs page served at `routePath`, for a browser at `pathname`. */
export function docsPage(routePath: string, pathname: string): string {
  const root = rootFrom(routePath, pathname);
  const assets = `${root}${DOCS_PATH.slice(1)}/`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>fraiseql-observers API</title>
    <link rel="stylesheet" href="${assets}${DOCS_ASSETS.style.file}" />
  </head>
  <body>
    <div id="swagger-ui" data-url="${root}${DOCUMENT_PATH.slice(1)}"></div>
    <script src="${assets}${DOCS_ASSETS.script.file}"></script>
    <script>${BOOT}</script>
  </body>
</html>
`;
}

/** The handler of the docs page at `routePath`. */
export function docsPageHandler(routePath: string) {
  return async (c: Context): Promise<Response> =>
    new Response(docsPage(routePath, new URL(c.req.url).pathname), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": await docsPolicy(),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
      },
    });
}

const TYPES: ReadonlyMap<string, string> = new Map(
  Object.values(DOCS_ASSETS).map((asset) => [asset.file, asset.type]),
);

/** The bytes of a base64 text. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * `GET /api/observers/docs/{file}`: a docs asset. The module holding them (0.65 MB, gzipped) is
 * imported only here, so other requests and cold starts never load it; each request inflates its
 * asset as it streams (browsers keep it a year: the name changes with the content).
 */
export async function docsAsset(c: Context): Promise<Response> {
  const file = c.req.param("file") ?? "";
  const type = TYPES.get(file);
  if (type === undefined) {
    return problemResponse(404, "NOT_FOUND", `no docs asset named ${JSON.stringify(file)}`);
  }
  const { DOCS_ASSETS_GZIP } = await import("./docs-assets.generated.ts");
  const gzipped = DOCS_ASSETS_GZIP[file];
  // The two generated modules come from one run (test/unit/docs-assets.test.ts checks them).
  if (gzipped === undefined)
    throw new Error(`docs asset ${file} is in the manifest, not the texts`);
  const body = new Blob([fromBase64(gzipped)])
    .stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Response(body, {
    headers: {
      "content-type": type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}

/** The document as served at `routePath`: its server is the API's root, relative to it. */
export function servedDocument(
  document: Record<string, unknown>,
  routePath: string,
): Record<string, unknown> {
  const up = routePath.split("/").length - 2;
  const url = up === 0 ? "." : Array.from({ length: up }, () => "..").join("/");
  return {
    ...document,
    servers: [{ url, description: "The API's root, relative to this document" }],
  };
}
