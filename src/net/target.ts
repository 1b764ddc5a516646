import { ActionFailure } from "../actions/types.ts";
import { checkTarget } from "./ssrf.ts";

/** Outbound URLs longer than this (in UTF-8 bytes) are refused, as FraiseQL does. */
export const MAX_URL_BYTES = 2048;

const encoder = new TextEncoder();

/** How to vet one destination. */
export interface TargetOptions {
  allowPrivateTargets: boolean;
  /** Resolves a relative URL (a redirect's `Location`) against this one. */
  base?: URL;
  /** What the URL is, for messages: "target URL" unless given. */
  label?: string;
}

/** How an operator allows private targets, for refusal messages. */
export const privateTargetHint =
  "set OBSERVERS_ALLOW_PRIVATE_TARGETS=true to allow loopback and private-network targets";

function invalid(message: string): ActionFailure {
  return new ActionFailure("permanent", "INVALID_URL", message);
}

/**
 * Parses and vets a destination: an absolute http(s) URL of at most 2048 bytes, without
 * credentials, and (unless `allowPrivateTargets`) allowed by the SSRF guard. Throws a permanent
 * `INVALID_URL` or `TARGET_FORBIDDEN` ActionFailure. Messages name the host, never the full URL,
 * whose path or query may carry tokens.
 */
export function parseTarget(text: string, options: TargetOptions): URL {
  const label = options.label ?? "target URL";
  // Checked before parsing too (length first), so a megabyte of URL is never parsed or encoded.
  if (text.length > MAX_URL_BYTES || encoder.encode(text).byteLength > MAX_URL_BYTES) {
    throw invalid(`${label} is longer than ${MAX_URL_BYTES} bytes`);
  }
  if (!URL.canParse(text, options.base)) throw invalid(`${label} is not a valid absolute URL`);
  const url = new URL(text, options.base);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`${label} must use http or https, not ${url.protocol.slice(0, 20)}`);
  }
  // Percent-encoding can lengthen it; what is sent is what counts.
  if (encoder.encode(url.href).byteLength > MAX_URL_BYTES) {
    throw invalid(`${label} is longer than ${MAX_URL_BYTES} bytes once normalised`);
  }
  // fetch refuses URLs with credentials (a TypeError that would pass for a network error).
  if (url.username !== "" || url.password !== "") {
    throw invalid(`${label} for ${url.host} embeds credentials; send them in a header instead`);
  }
  if (!options.allowPrivateTargets) {
    const reason = checkTarget(url);
    if (reason !== null) {
      throw new ActionFailure(
        "permanent",
        "TARGET_FORBIDDEN",
        `refusing to contact ${url.host} (${label}): ${reason}; ${privateTargetHint}`,
      );
    }
  }
  return url;
}
