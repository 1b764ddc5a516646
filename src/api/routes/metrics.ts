import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { EXPOSITION_CONTENT_TYPE } from "../../metrics/exposition.ts";
import { renderScrape, type ScrapeSource } from "../../metrics/scrape.ts";
import type { ApiEnv } from "../auth.ts";
import { router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import { problems } from "../schemas/common.ts";

/** The metrics' path under the API's root, and at the root (the ready servers, with `rootDocs`). */
export const METRICS_PATH = "/api/observers/metrics";
export const ROOT_METRICS_PATH = "/metrics";

/** Options of the metrics routes (`ObserversApiOptions.metrics`). */
export interface MetricsApiOptions {
  /**
   * Scrapes need no token (`OBSERVERS_METRICS_PUBLIC=true`): for a scraper on a private network.
   * Default false: the read scope (or admin) of a key bound to no tenant.
   */
  public?: boolean;
  /** The listener whose backlog the database gauges read (default "default"). */
  listenerId?: string;
  /** Bound of the database gauges' statement, in milliseconds (default 2 000). */
  gaugeTimeoutMs?: number;
  /** The host's gauges read at scrape (its live subscribers). */
  sources?: readonly ScrapeSource[];
}

const description = `Prometheus text exposition format 0.0.4: FraiseQL's metric names and ours (docs/metrics.md).
Counters are this process's (on Workers, this isolate's); gauges read from the database are exact.
Needs a key of any scope bound to no tenant (the metrics are server-wide: a tenant key gets 403),
or none with \`OBSERVERS_METRICS_PUBLIC=true\`.`;

function scrapeRoute(isPublic: boolean) {
  return createRoute({
    method: "get",
    path: "/metrics",
    tags: ["Runtime"],
    summary: "Prometheus metrics",
    description,
    ...(isPublic ? { security: [] } : {}),
    responses: {
      200: {
        description: "The metrics",
        content: { "text/plain": { schema: z.string() } },
      },
      ...problems({ extra: [403] }),
    },
  });
}

/**
 * Answers a scrape. A tenant-bound key is refused: counters and gauges cover every tenant, so its
 * tenant's volumes would show beside (and reveal) the others'.
 */
export async function scrape(
  c: Context<ApiEnv>,
  sources: readonly ScrapeSource[],
  isPublic: boolean,
): Promise<Response> {
  if (!isPublic) {
    const principal = c.get("principal");
    if (principal.tenant !== null) {
      throw new HttpProblem(
        403,
        "FORBIDDEN",
        "metrics are server-wide (every tenant's volumes): use a key bound to no tenant",
      );
    }
  }
  const text = await renderScrape(sources);
  return new Response(c.req.method === "HEAD" ? null : text, {
    status: 200,
    headers: { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

/** `GET /metrics` (under `/api/observers`). */
export function metricsRoutes(sources: readonly ScrapeSource[], isPublic: boolean) {
  return router().openapi(
    scrapeRoute(isPublic),
    async (c) => (await scrape(c, sources, isPublic)) as never,
  );
}
