/**
 * The management API (the package's `./http` entry): `createObserversApi` builds the Hono app a
 * host serves or mounts, with the types its options name.
 */

export { gaugeSource, type ScrapeSource } from "../metrics/scrape.ts";
export type { TrustedProxies } from "../net/client-address.ts";
export { createObserversApi, type ObserversApi, type ObserversApiOptions } from "./app.ts";
export type { ApiEnv, ClientAddress, Principal } from "./auth.ts";
export { AuthThrottle, type AuthThrottleOptions } from "./auth-throttle.ts";
export {
  type ApiLimits,
  DEFAULT_API_LIMITS,
  DEFAULT_PAGE_SIZE,
  MAX_BODY_BYTES,
  MAX_PAGE_SIZE,
} from "./limits.ts";
export { openApiDocument } from "./openapi.ts";
export type { Problem } from "./problem.ts";
export type { KeyRevoked } from "./routes/keys.ts";
export type { LiveUpgrade } from "./routes/live.ts";
export type { MetricsApiOptions } from "./routes/metrics.ts";
