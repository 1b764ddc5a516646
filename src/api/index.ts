export { createObserversApi, type ObserversApi, type ObserversApiOptions } from "./app.ts";
export type { ApiEnv, ClientAddress, Principal } from "./auth.ts";
export { AuthThrottle, type AuthThrottleOptions } from "./auth-throttle.ts";
export { DEFAULT_PAGE_SIZE, MAX_BODY_BYTES, MAX_PAGE_SIZE } from "./limits.ts";
export { openApiDocument } from "./openapi.ts";
export type { Problem } from "./problem.ts";
export type { LiveUpgrade } from "./routes/live.ts";
