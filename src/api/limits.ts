/** Largest request body the API reads (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Deepest nesting of arrays and objects a JSON request body may have. */
export const MAX_JSON_DEPTH = 256;

/** Page size when a list request names none, and the most one may ask for. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
