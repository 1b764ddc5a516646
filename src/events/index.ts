export { diffImages } from "./diff.ts";
export { normalizeChangeEvent } from "./normalize.ts";
export { parseJson } from "./parse-json.ts";
export type { ChangeLogRow } from "./row.ts";
export type * from "./types.ts";
export { EVENT_TYPES } from "./types.ts";
