import { ConfigError, type ConfigIssue } from "../errors.ts";
import type { PageRequest } from "../store/common.ts";

/** Page size when a list request names none, and the most one may ask for. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Reads query parameters, collecting every problem into one `ConfigError` (a 400). */
export class QueryReader {
  readonly issues: ConfigIssue[] = [];
  readonly #query: Readonly<Record<string, string>>;
  constructor(query: Readonly<Record<string, string>>) {
    this.#query = query;
  }

  /** An integer in [min, max], or `fallback` when absent. */
  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.#query[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (/^\d+$/.test(raw) && value >= min && value <= max) return value;
    this.issues.push({ path: name, message: `must be an integer from ${min} to ${max}` });
    return fallback;
  }

  /** `true` or `false`, or undefined when absent. */
  boolean(name: string): boolean | undefined {
    const raw = this.#query[name];
    if (raw === undefined || raw === "") return undefined;
    if (raw === "true" || raw === "false") return raw === "true";
    this.issues.push({ path: name, message: "must be true or false" });
    return undefined;
  }

  /** A non-empty string, or undefined when absent. */
  text(name: string): string | undefined {
    const raw = this.#query[name];
    return raw === undefined || raw === "" ? undefined : raw;
  }

  /** `page` (from 1) and `page_size` (1 to 100). */
  page(): PageRequest {
    return {
      page: this.integer("page", 1, 1, 1_000_000),
      pageSize: this.integer("page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    };
  }

  /** Throws the collected issues, if any. */
  done(): void {
    if (this.issues.length > 0) throw new ConfigError(this.issues);
  }
}
