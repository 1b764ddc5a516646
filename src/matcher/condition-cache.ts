import { type CompiledCondition, safeCompileCondition } from "../dsl/evaluator.ts";
import { ConditionSyntaxError } from "../errors.ts";

/** A bounded, least-recently-used cache of compiled conditions, keyed by source text. */
export interface ConditionCache {
  /** The compiled condition, or the syntax error it raises (cached too: a bad condition stays bad). */
  get(source: string): CompiledCondition | ConditionSyntaxError;
  readonly size: number;
}

/** A cache holding at most `maxEntries` compiled conditions. */
export function createConditionCache(maxEntries = 10_000): ConditionCache {
  const entries = new Map<string, CompiledCondition | ConditionSyntaxError>();
  return {
    get(source) {
      const hit = entries.get(source);
      if (hit !== undefined) {
        // Re-insert so Map order tracks recency.
        entries.delete(source);
        entries.set(source, hit);
        return hit;
      }
      const compiled = safeCompileCondition(source);
      const value = compiled.success
        ? compiled.condition
        : new ConditionSyntaxError(compiled.issues);
      entries.set(source, value);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
      return value;
    },
    get size() {
      return entries.size;
    },
  };
}

/** Shared by matchers that are not given their own, so reloads reuse earlier compilations. */
export const defaultConditionCache: ConditionCache = createConditionCache();
