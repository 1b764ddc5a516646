/**
 * The ticker: one Durable Object ("ticker") whose alarm runs extra ticks between cron ticks.
 *
 * - After each cron tick the Worker reports the result (`POST /report`); when something is left
 *   or comes due within the next minute (a backlog beyond the tick's budget, a retry in a few
 *   seconds), the ticker sets its alarm for then (at least 1 s away), and each alarm tick does
 *   the same: ticks chain while there is work, for sub-minute latency, and stop when idle.
 * - The API's writes that create work (a new or re-enabled observer, a dead-letter replay) ask
 *   for a tick now (`POST /schedule`), so a replay does not wait for the next cron.
 * - `GET /last` answers the last tick's result, for the health endpoint.
 *
 * A host with its own action types binds the Worker and the ticker to them
 * (`createObserversWorker({ actions })`). Were the ticker a plain one, its alarm ticks would
 * dead-letter every delivery of those types: so the Worker names its custom types on each report
 * and schedule, and a ticker that lacks one of them runs no alarm tick (the cron ticks carry the
 * work) and says so in the log, naming the fix.
 *
 * An alarm handler has a 15-minute wall-clock limit and the invocation's CPU limit, like a cron
 * invocation; a tick stays far below both. An alarm tick may overlap a cron tick: harmless, two
 * runtimes on one database divide the work (row locks and leases), it only costs a little.
 */
import type { Logger } from "../../../src/ports/logger.ts";
import type { TickResult } from "./tick.ts";
import type { DurableObjectNamespace, DurableObjectState, DurableObjectStub } from "./types.ts";

export const TICKER_ORIGIN = "https://ticker.internal";
const LAST_KEY = "last";
/** The custom action types the Worker last named (JSON array in a header, and in storage). */
const ACTIONS_KEY = "worker-actions";
const ACTIONS_HEADER = "x-observers-action-types";
/** Chain a tick when work comes due sooner than this (the cron runs every minute). */
const CHAIN_WITHIN_MS = 60_000;
/** The closest an alarm is set: ticks never run back to back. */
const MIN_GAP_MS = 1_000;

/** The ticker's stub. */
export function tickerStub(namespace: DurableObjectNamespace): DurableObjectStub {
  return namespace.get(namespace.idFromName("ticker"));
}

/** Asks for a tick soon (the API's wake-up); `actionTypes`: the Worker's custom ones. */
export async function scheduleTick(
  namespace: DurableObjectNamespace,
  actionTypes: readonly string[] = [],
): Promise<void> {
  const response = await tickerStub(namespace).fetch(`${TICKER_ORIGIN}/schedule`, {
    method: "POST",
    headers: { [ACTIONS_HEADER]: JSON.stringify(actionTypes) },
  });
  await response.body?.cancel();
}

/** Hands the ticker a cron tick's result (it chains a tick if work is left). */
export async function reportTick(
  namespace: DurableObjectNamespace,
  result: TickResult,
  actionTypes: readonly string[] = [],
): Promise<void> {
  const response = await tickerStub(namespace).fetch(`${TICKER_ORIGIN}/report`, {
    method: "POST",
    headers: { "content-type": "application/json", [ACTIONS_HEADER]: JSON.stringify(actionTypes) },
    body: JSON.stringify(result),
  });
  await response.body?.cancel();
}

/** The last tick's result, or null before the first. */
export async function lastTick(namespace: DurableObjectNamespace): Promise<TickResult | null> {
  const response = await tickerStub(namespace).fetch(`${TICKER_ORIGIN}/last`);
  if (!response.ok) {
    await response.body?.cancel();
    return null;
  }
  return (await response.json()) as TickResult | null;
}

/** The ticker's handlers: the Durable Object's `fetch` and `alarm`. */
export class Ticker {
  private readonly ctx: DurableObjectState;
  private readonly tick: () => Promise<TickResult>;
  private readonly logger: Logger;
  private readonly actionTypes: ReadonlySet<string>;

  /** `actionTypes`: the custom action types this ticker's ticks can run. */
  constructor(
    ctx: DurableObjectState,
    tick: () => Promise<TickResult>,
    logger: Logger,
    actionTypes: readonly string[] = [],
  ) {
    this.ctx = ctx;
    this.tick = tick;
    this.logger = logger;
    this.actionTypes = new Set(actionTypes);
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const named = workerActionTypes(request);
    if (named) await this.ctx.storage.put(ACTIONS_KEY, named);
    if (path === "/schedule" && request.method === "POST") {
      await this.alarmAt(Date.now());
      return new Response(null, { status: 204 });
    }
    if (path === "/report" && request.method === "POST") {
      await this.record((await request.json()) as TickResult);
      return new Response(null, { status: 204 });
    }
    if (path === "/last" && request.method === "GET") {
      return Response.json((await this.ctx.storage.get<TickResult>(LAST_KEY)) ?? null);
    }
    return new Response("not found", { status: 404 });
  }

  /** The alarm: one tick, then chain another if work is left. */
  async alarm(): Promise<void> {
    const named = (await this.ctx.storage.get<string[]>(ACTIONS_KEY)) ?? [];
    const missing = named.filter((type) => !this.actionTypes.has(type));
    if (missing.length > 0) {
      this.logger.log(
        "error",
        "alarm tick skipped: this TickerObject lacks the Worker's action types",
        {
          missing,
          fix: "export the Durable Objects of the same createObserversWorker({ actions }) as the Worker",
        },
      );
      return;
    }
    let result: TickResult;
    try {
      result = await this.tick();
    } catch (error) {
      // The cron tick carries on within the minute; no retry storm from here.
      this.logger.log("error", "alarm tick failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    await this.record(result);
  }

  private async record(result: TickResult): Promise<void> {
    await this.ctx.storage.put(LAST_KEY, result);
    if (result.nextDueAt !== null && result.nextDueAt - Date.now() < CHAIN_WITHIN_MS) {
      await this.alarmAt(result.nextDueAt);
    }
  }

  /** Sets the alarm for `at` (at least MIN_GAP_MS away) unless it is already set sooner. */
  private async alarmAt(at: number): Promise<void> {
    const when = Math.max(at, Date.now() + MIN_GAP_MS);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > when) await this.ctx.storage.setAlarm(when);
  }
}

/** The custom action types a Worker's request names, or null when it names none (an old one). */
function workerActionTypes(request: Request): string[] | null {
  const header = request.headers.get(ACTIONS_HEADER);
  if (header === null) return null;
  try {
    const parsed: unknown = JSON.parse(header);
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === "string") : null;
  } catch {
    return null;
  }
}
