/**
 * The Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): one `# HELP` and one `# TYPE`
 * line per family, then its samples, `name{label="value",...} value`, each line ending in `\n`.
 */

/** The Content-Type of a scrape's answer. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

/** One line of a family: a sample's full name (with `_bucket`, `_sum`... ), labels, value. */
export interface Sample {
  name: string;
  labels: Readonly<Record<string, string | number>>;
  value: number;
}

/** A metric's samples with its help and type. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value or an `le` bound: Go's float syntax, with +Inf, -Inf and NaN. */
export function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

function formatLabels(labels: Readonly<Record<string, string | number>>): string {
  let text = "";
  for (const name in labels) {
    const value = labels[name] as string | number;
    const shown = typeof value === "number" ? formatValue(value) : escapeLabelValue(value);
    text += `${text === "" ? "" : ","}${name}="${shown}"`;
  }
  return text === "" ? "" : `{${text}}`;
}

/** Families in the exposition format; a family without samples still says its HELP and TYPE. */
export function renderFamilies(families: readonly MetricFamily[]): string {
  let text = "";
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      text += `${sample.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}
