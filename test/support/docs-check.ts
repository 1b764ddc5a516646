/**
 * Checks a served docs page as a browser would use it: the page links only to relative,
 * same-origin URLs, which, resolved against the page's own URL, answer the OpenAPI document and
 * Swagger UI's script and stylesheet (right content types, cached for a year); its
 * Content-Security-Policy allows no external origin and admits its one inline script by hash; and
 * the document's relative server URL, resolved against where the document came from, reaches the
 * API. For `app.request` in process and `fetch` against a real server alike.
 */
import { expect } from "vitest";

type Fetcher = (url: string) => Response | Promise<Response>;

/** The URLs of a page's `href`, `src` and `data-url` attributes. */
export function linksOf(html: string): string[] {
  return [...html.matchAll(/\b(?:href|src|data-url)="([^"]*)"/g)].map((m) => m[1] as string);
}

/** The page's policy, directive by directive. */
function directivesOf(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(";").map((directive) => {
      const [name, ...sources] = directive.trim().split(/\s+/);
      return [name as string, sources];
    }),
  );
}

/**
 * Asserts the docs page at absolute `pageUrl` works from where it is (see the module comment);
 * `apiRoot` is the absolute URL of the API's root (the mount prefix, no trailing slash).
 */
export async function expectDocsServed(
  fetcher: Fetcher,
  pageUrl: string,
  apiRoot: string,
): Promise<void> {
  const page = await fetcher(pageUrl);
  expect(page.status, pageUrl).toBe(200);
  expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const html = await page.text();
  expect(html, "no absolute or external URL in the page").not.toMatch(/https?:|\/\/[a-z]/i);

  const directives = directivesOf(page.headers.get("content-security-policy") ?? "");
  expect(directives.get("default-src")).toEqual(["'none'"]);
  for (const [name, sources] of directives) {
    for (const source of sources) {
      expect(source, `${name} ${source}`).toMatch(
        /^(?:'self'|'none'|'unsafe-inline'|data:|'sha256-[A-Za-z0-9+/=]+')$/,
      );
    }
  }
  const inline = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  expect(inline).toContain("SwaggerUIBundle(");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(inline));
  const hash = Buffer.from(digest).toString("base64");
  expect(directives.get("script-src")).toEqual(["'self'", `'sha256-${hash}'`]);

  const links = linksOf(html);
  expect(links).toHaveLength(3);
  const origin = new URL(pageUrl).origin;
  const byType = new Map<string, { url: string; response: Response }>();
  for (const link of links) {
    expect(link, "relative, same origin").toMatch(/^\.\.?\//);
    const url = new URL(link, pageUrl);
    expect(url.origin).toBe(origin);
    expect(url.href.startsWith(`${apiRoot}/api/observers/`), url.href).toBe(true);
    const response = await fetcher(url.href);
    expect(response.status, url.href).toBe(200);
    byType.set(response.headers.get("content-type")?.split(";")[0] ?? "", {
      url: url.href,
      response,
    });
  }
  expect([...byType.keys()].sort()).toEqual(["application/json", "text/css", "text/javascript"]);
  for (const type of ["text/css", "text/javascript"]) {
    expect(byType.get(type)?.response.headers.get("cache-control")).toBe(
      "public, max-age=31536000, immutable",
    );
  }
  expect(await byType.get("text/javascript")?.response.text()).toContain("SwaggerUIBundle");
  expect(await byType.get("text/css")?.response.text()).toContain(".swagger-ui");

  const document = byType.get("application/json");
  if (!document) throw new Error("the page links to no JSON document");
  const { servers } = (await document.response.json()) as { servers: { url: string }[] };
  // OpenAPI: a relative server URL is relative to where the document was fetched from; an
  // operation's URL is the server's URL (less a trailing slash) followed by its path.
  const server = new URL(servers[0]?.url ?? "", document.url).href.replace(/\/$/, "");
  expect(server).toBe(apiRoot);
  expect((await fetcher(`${server}/api/observers/runtime/health`)).status).toBe(200);
}
