/** `metrics`: the server's Prometheus exposition, as it is or parsed into a list (`--format json`). */
import { type Command, stringOption } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { json, line } from "./output.ts";

/** One sample of the exposition. */
export interface MetricSample {
  name: string;
  /** The family's `# TYPE` (counter, gauge, histogram, summary, untyped). */
  type: string;
  help: string | null;
  labels: Record<string, string>;
  /** A number, or `"+Inf"`, `"-Inf"`, `"NaN"` (which JSON cannot hold as numbers). */
  value: number | string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;
const SUFFIXES = ["_bucket", "_sum", "_count", "_total", "_created"];

function parseLabels(text: string, lineNumber: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text.trim();
  while (rest !== "") {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*/.exec(rest);
    if (!match) throw new Error(`line ${lineNumber}: unreadable labels {${text}}`);
    const [whole, name = "", raw = ""] = match;
    labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function parseValue(text: string, lineNumber: number): number | string {
  if (text === "+Inf" || text === "-Inf" || text === "NaN") return text;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`line ${lineNumber}: not a number: ${text}`);
  return value;
}

/** Parses the Prometheus text format (0.0.4) into samples; throws naming the line it cannot read. */
export function parsePrometheus(text: string): MetricSample[] {
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const samples: MetricSample[] = [];
  text.split("\n").forEach((raw, index) => {
    const lineNumber = index + 1;
    const current = raw.trim();
    if (current === "") return;
    if (current.startsWith("#")) {
      const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(current);
      if (meta?.[1] === "TYPE") types.set(meta[2] ?? "", (meta[3] ?? "").trim());
      if (meta?.[1] === "HELP")
        helps.set(meta[2] ?? "", (meta[3] ?? "").replace(/\\n/g, "\n").replace(/\\\\/g, "\\"));
      return;
    }
    const match = SAMPLE.exec(current);
    if (!match) throw new Error(`line ${lineNumber}: not a sample: ${current.slice(0, 200)}`);
    const name = match[1] ?? "";
    const family = types.has(name)
      ? name
      : (SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : "")).find(
          (f) => f !== "" && types.has(f),
        ) ?? name);
    samples.push({
      name,
      type: types.get(family) ?? "untyped",
      help: helps.get(family) ?? null,
      labels: parseLabels(match[3] ?? "", lineNumber),
      value: parseValue(match[4] ?? "", lineNumber),
    });
  });
  return samples;
}

export const metrics: Command = {
  name: "metrics",
  summary: "the server's Prometheus metrics (GET /metrics, else /api/observers/metrics)",
  help: "metrics [--metric <name prefix>]",
  options: { metric: { type: "string" } },
  async run(context) {
    const client = context.client();
    let path = "/metrics";
    let response = await client.raw("GET", path, { accept: "text/plain" });
    if (response.status === 404) {
      path = "/api/observers/metrics";
      response = await client.raw("GET", path, { accept: "text/plain" });
    }
    if (response.status === 404) {
      throw new CliError(
        EXIT.failed,
        "this server exposes no metrics: GET /metrics and /api/observers/metrics both answered 404",
      );
    }
    if (response.status < 200 || response.status >= 300)
      throw client.failure("GET", path, response);
    const text =
      typeof response.body === "string" ? response.body : JSON.stringify(response.body ?? "");
    const prefix = stringOption(context.values, "metric");
    let samples: MetricSample[];
    try {
      samples = parsePrometheus(text);
    } catch (error) {
      throw new CliError(
        EXIT.failed,
        `GET ${path} answered something that is not the Prometheus text format: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (context.format === "json") {
      json(prefix === undefined ? samples : samples.filter((s) => s.name.startsWith(prefix)));
      return EXIT.ok;
    }
    if (prefix === undefined) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    else {
      for (const raw of text.split("\n")) {
        const name = raw.startsWith("#") ? raw.split(/\s+/)[2] : raw.split(/[{\s]/)[0];
        if (name?.startsWith(prefix)) line(raw);
      }
    }
    return EXIT.ok;
  },
};
