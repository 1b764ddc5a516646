export { diffImages } from "./diff.ts";
export { type ChangeLogRow, normalizeChangeEvent } from "./normalize.ts";
export { parseJson } from "./parse-json.ts";
export type * from "./types.ts";
export { EVENT_TYPES } from "./types.ts";
