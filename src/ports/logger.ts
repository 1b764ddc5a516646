import type { JsonValue } from "../json.ts";

/** Severities, least to most severe. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Structured log sink. Fields must never carry secrets (signing secrets, tokens, header values). */
export interface Logger {
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, JsonValue>>): void;
}

/** Discards everything (tests, benchmarks). */
export const silentLogger: Logger = { log() {} };

/** One JSON line per record on the console, at `minLevel` and above. */
export function createConsoleLogger(minLevel: LogLevel = "info"): Logger {
  const threshold = LOG_LEVELS.indexOf(minLevel);
  return {
    log(level, message, fields) {
      if (LOG_LEVELS.indexOf(level) < threshold) return;
      const line = JSON.stringify(
        { time: new Date().toISOString(), level, message, ...fields },
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
      );
      if (level === "error" || level === "warn") console.error(line);
      else console.log(line);
    },
  };
}
