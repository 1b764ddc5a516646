/**
 * Checks a served console page as a browser would load it: it links only to relative, same-origin
 * URLs that answer the console's script and stylesheet (right types, cached for a year); its
 * Content-Security-Policy allows its own origin only and no inline code at all; and its
 * `data-api-root`, resolved against the page's URL, is the API's root. For `app.request` in
 * process and `fetch` against a real server (every host) alike.
 */
import { expect } from "vitest";
import { linksOf } from "./docs-check.ts";

type Fetcher = (url: string) => Response | Promise<Response>;

/** Asserts the console at absolute `pageUrl` works; `apiRoot`: the API's root, no trailing slash. */
export async function expectConsoleServed(
  fetcher: Fetcher,
  pageUrl: string,
  apiRoot: string,
): Promise<void> {
  const page = await fetcher(pageUrl);
  expect(page.status, pageUrl).toBe(200);
  expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const html = await page.text();
  expect(html, "no absolute or external URL in the page").not.toMatch(/https?:|\/\/[a-z]/i);
  expect(html, "no inline script").not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html, "no inline style").not.toMatch(/<style|\bstyle="/);

  const policy = page.headers.get("content-security-policy") ?? "";
  const directives = new Map(
    policy.split(";").map((directive) => {
      const [name, ...sources] = directive.trim().split(/\s+/);
      return [name as string, sources];
    }),
  );
  expect(directives.get("default-src")).toEqual(["'none'"]);
  expect(directives.get("script-src")).toEqual(["'self'"]);
  expect(directives.get("style-src")).toEqual(["'self'"]);
  expect(directives.get("connect-src")).toEqual(["'self'"]);
  for (const [name, sources] of directives) {
    for (const source of sources) {
      expect(source, `${name} ${source}`).toMatch(/^(?:'self'|'none'|data:)$/);
    }
  }

  const root = /data-api-root="([^"]*)"/.exec(html)?.[1];
  expect(new URL(root ?? "?", pageUrl).href.replace(/\/$/, "")).toBe(apiRoot);

  const links = linksOf(html);
  expect(links).toHaveLength(2);
  const types: string[] = [];
  for (const link of links) {
    expect(link, "relative").toMatch(/^\.\.?\//);
    const url = new URL(link, pageUrl);
    expect(url.href.startsWith(`${apiRoot}/api/observers/console/`), url.href).toBe(true);
    const response = await fetcher(url.href);
    expect(response.status, url.href).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const type = response.headers.get("content-type")?.split(";")[0] ?? "";
    types.push(type);
    const body = await response.text();
    if (type === "text/javascript") expect(body).toContain("fraiseql-observers console");
    else expect(body).toContain(".sign-in");
  }
  expect(types.sort()).toEqual(["text/css", "text/javascript"]);
}
