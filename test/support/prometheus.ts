/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for the tests that scrape
 * `/metrics`: every line must be a `# HELP`, a `# TYPE` or a sample of the family they declared
 * (no other comment, no blank line, no timestamp: we write none), label values escaped as the
 * format says, each family once with its HELP and TYPE before its samples, no series twice, the
 * text ending in a line feed. Histograms are checked whole: per label set, `le` buckets
 * increasing and cumulative, a `+Inf` bucket equal to `_count`, and a `_sum`.
 */

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = "[a-zA-Z_][a-zA-Z0-9_]*";
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL_PAIR = new RegExp(`^(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`);
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  samples: ParsedSample[];
}

export type Exposition = Map<string, ParsedFamily>;

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`exposition line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
}

function parseValue(text: string): number | null {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  return FLOAT.test(text) ? Number(text) : null;
}

function unescapeText(text: string): string {
  return text.replace(/\\([\\"n])/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(text: string, lineNo: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = LABEL_PAIR.exec(rest);
    if (!match) fail(lineNo, line, "malformed label pair");
    const [whole, name, value] = match as unknown as [string, string, string];
    if (name in labels) fail(lineNo, line, `label ${name} twice`);
    labels[name] = unescapeText(value);
    rest = rest.slice(whole.length);
    if (rest.startsWith(",")) rest = rest.slice(1);
    else if (rest.length > 0) fail(lineNo, line, "labels must be separated by commas");
  }
  return labels;
}

/** The family a sample name belongs to, given the declared family and its type. */
function belongs(sample: string, family: ParsedFamily): boolean {
  if (family.type === "histogram") {
    return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sample);
  }
  return sample === family.name;
}

/** Parses `text` strictly; throws naming the first offending line. */
export function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a line feed");
  const families: Exposition = new Map();
  const series = new Set<string>();
  let current: ParsedFamily | null = null;
  let helpFor: { name: string; help: string } | null = null;
  const lines = text.slice(0, -1).split("\n");
  for (const [i, line] of lines.entries()) {
    const lineNo = i + 1;
    if (line === "") fail(lineNo, line, "blank line");
    if (line.startsWith("#")) {
      const help = HELP_LINE.exec(line);
      if (help) {
        const [, name, helpText] = help as unknown as [string, string, string];
        if (families.has(name) || helpFor !== null)
          fail(lineNo, line, "HELP repeated or misplaced");
        if (/\\[^\\n]/.test(helpText.replace(/\\\\/g, "")))
          fail(lineNo, line, "bad escape in HELP");
        helpFor = { name, help: unescapeText(helpText) };
        continue;
      }
      const type = TYPE_LINE.exec(line);
      if (type) {
        const [, name, kind] = type as unknown as [string, string, string];
        if (families.has(name)) fail(lineNo, line, `family ${name} declared twice`);
        if (helpFor === null || helpFor.name !== name) {
          fail(lineNo, line, "every family must have its HELP right before its TYPE");
        }
        current = { name, help: helpFor.help, type: kind, samples: [] };
        families.set(name, current);
        helpFor = null;
        continue;
      }
      fail(lineNo, line, "unexpected comment");
    }
    const sample = SAMPLE_LINE.exec(line);
    if (!sample) fail(lineNo, line, "not a sample line");
    const [, name, labelText, valueText] = sample as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    if (current === null || helpFor !== null) fail(lineNo, line, "sample before its TYPE");
    const family = current as ParsedFamily;
    if (!belongs(name, family)) fail(lineNo, line, `sample outside its family ${family.name}`);
    const value = parseValue(valueText);
    if (value === null) fail(lineNo, line, "invalid value");
    const labels = labelText === undefined ? {} : parseLabels(labelText, lineNo, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail(lineNo, line, "series repeated");
    series.add(key);
    if (family.type === "counter" && !(value >= 0)) fail(lineNo, line, "negative counter");
    family.samples.push({ name, labels, value });
  }
  if (helpFor !== null) throw new Error("HELP without TYPE at the end");
  for (const family of families.values()) {
    if (family.type === "histogram") checkHistogram(family);
  }
  return families;
}

function withoutLe(labels: Record<string, string>): string {
  const { le: _le, ...rest } = labels;
  return JSON.stringify(Object.entries(rest).sort());
}

function checkHistogram(family: ParsedFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  const group = (labels: Record<string, string>) => {
    const key = withoutLe(labels);
    let entry = groups.get(key);
    if (!entry) {
      entry = { buckets: [] };
      groups.set(key, entry);
    }
    return entry;
  };
  for (const sample of family.samples) {
    const entry = group(sample.labels);
    if (sample.name.endsWith("_bucket")) {
      const le = sample.labels.le;
      const bound = le === undefined ? null : parseValue(le);
      if (bound === null) throw new Error(`${family.name}: bucket without a valid le`);
      entry.buckets.push([bound, sample.value]);
    } else if (sample.name.endsWith("_sum")) {
      entry.sum = sample.value;
    } else {
      entry.count = sample.value;
    }
  }
  for (const [labels, entry] of groups) {
    const where = `${family.name}${labels}`;
    if (entry.sum === undefined || entry.count === undefined) {
      throw new Error(`${where}: _sum and _count are required`);
    }
    for (let i = 1; i < entry.buckets.length; i++) {
      const [bound, count] = entry.buckets[i] as [number, number];
      const [previousBound, previousCount] = entry.buckets[i - 1] as [number, number];
      if (!(bound > previousBound)) throw new Error(`${where}: le bounds must increase`);
      if (count < previousCount) throw new Error(`${where}: buckets must be cumulative`);
    }
    const last = entry.buckets.at(-1);
    if (!last || last[0] !== Number.POSITIVE_INFINITY) {
      throw new Error(`${where}: the last bucket must be le="+Inf"`);
    }
    if (last[1] !== entry.count) throw new Error(`${where}: the +Inf bucket must equal _count`);
  }
}

/**
 * The value of the series `name` with exactly `labels` (a histogram's `_count`, `_sum` or a
 * bucket by its name), or undefined when absent.
 */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family =
    exposition.get(name) ?? exposition.get(name.replace(/_(bucket|sum|count)$/, "")) ?? null;
  if (!family) return undefined;
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return family.samples.find(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted,
  )?.value;
}
