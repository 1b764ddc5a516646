/**
 * The web console (docs/console.md): one HTML page and two assets, a plain ES module and a
 * stylesheet from `console/` in the repository, shipped inside the package as a generated module
 * (scripts/generate-console-assets.ts), so it works offline, on every host, and under any mount
 * prefix. Like the docs page (docs.ts), every link is relative to the page:
 * - `api/observers/console` (and `console/`): the page; with `rootDocs`, also `console` at the root.
 * - `api/observers/console/<name>.<hash>.<ext>`: the script and stylesheet, cached for a year.
 *
 * The page holds no inline script or style and no data: the script builds every view with DOM
 * methods and text nodes (never HTML from data), calls the API with the key the user signs in
 * with (kept in sessionStorage), and its policy allows its own origin only.
 */
import type { Context } from "hono";
import { fromBase64, rootFrom } from "./docs.ts";
import { problemResponse } from "./problem.ts";

export const CONSOLE_PATH = "/api/observers/console";
export const ROOT_CONSOLE_PATH = "/console";

/** The page's policy: its own origin only (the WebSocket too), no inline code, no framing elsewhere. */
export const CONSOLE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join("; ");

const load = () => import("./console-assets.generated.ts");

/** The console page served at `routePath`, for a browser at `pathname`. */
export async function consolePage(routePath: string, pathname: string): Promise<string> {
  const { CONSOLE_ASSETS } = await load();
  const root = rootFrom(routePath, pathname);
  const assets = `${root}${CONSOLE_PATH.slice(1)}/`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>fraiseql-observers console</title>
    <link rel="stylesheet" href="${assets}${CONSOLE_ASSETS.style.file}" />
    <script type="module" src="${assets}${CONSOLE_ASSETS.script.file}"></script>
  </head>
  <body data-api-root="${root}">
    <noscript>The console needs JavaScript.</noscript>
  </body>
</html>
`;
}

/** The handler of the console page at `routePath`. */
export function consolePageHandler(routePath: string) {
  return async (c: Context): Promise<Response> =>
    new Response(await consolePage(routePath, new URL(c.req.url).pathname), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": CONSOLE_POLICY,
        "x-content-type-options": "nosniff",
        "x-frame-options": "SAMEORIGIN",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
      },
    });
}

/** `GET /api/observers/console/{file}`: the console's script or stylesheet. */
export async function consoleAsset(c: Context): Promise<Response> {
  const file = c.req.param("file") ?? "";
  const { CONSOLE_ASSETS } = await load();
  const asset = Object.values(CONSOLE_ASSETS).find((a) => a.file === file);
  if (asset === undefined) {
    return problemResponse(404, "NOT_FOUND", `no console asset named ${JSON.stringify(file)}`);
  }
  const body = new Blob([fromBase64(asset.gzip)])
    .stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Response(body, {
    headers: {
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}
