export { createObserversApi, type ObserversApiOptions } from "./app.ts";
export type { ApiEnv, Principal } from "./auth.ts";
export { MAX_BODY_BYTES } from "./body.ts";
export type { Problem } from "./problem.ts";
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./query.ts";
