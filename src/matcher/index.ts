export {
  type ConditionCache,
  createConditionCache,
  defaultConditionCache,
} from "./condition-cache.ts";
export { explainMatch, type MatchExplanation, type MatchReason } from "./explain-match.ts";
export {
  createMatcher,
  type MatchableObserver,
  type Matcher,
  type MatcherOptions,
  type MatchResult,
} from "./matcher.ts";
