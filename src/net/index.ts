/** Outbound HTTP for actions: the SSRF guard, bounded bodies, redirects and status reading. */
export { readBody, truncateUtf8, utf8Prefix } from "./body.ts";
export {
  expectSuccess,
  type HttpRequest,
  type HttpResponse,
  RESPONSE_EXCERPT_BYTES,
  sendHttp,
} from "./http.ts";
export { classifyIPv4, classifyIPv6, classifyIp, formatIPv4, parseIPv4, parseIPv6 } from "./ip.ts";
export { describeStatus, hostOf } from "./outcome.ts";
export { redactUrls } from "./redact.ts";
export { checkResolvedTarget } from "./resolved.ts";
export { MAX_RETRY_AFTER_MS, parseHttpDate, parseRetryAfter } from "./retry-after.ts";
export { checkHostname, checkTarget } from "./ssrf.ts";
export { MAX_URL_BYTES, parseTarget, privateTargetHint, type TargetOptions } from "./target.ts";
