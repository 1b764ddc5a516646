/**
 * A small dependency-free SVG writer for the results charts: grouped bar charts (vertical or
 * horizontal, linear or logarithmic axis) laid out in panels of one document. Text uses a
 * system sans-serif font; colours are fixed, so the file renders the same on GitHub and locally.
 */

export interface Series {
  name: string;
  color: string;
}

/** One group of bars: one value per series (null: no bar). */
export interface BarGroup {
  label: string;
  values: readonly (number | null)[];
}

export interface BarChart {
  title: string;
  /** The value axis' label, e.g. "milliseconds". */
  axis: string;
  series: readonly Series[];
  groups: readonly BarGroup[];
  /** Default "linear". A log axis suits values spread over decades (latency percentiles). */
  scale?: "linear" | "log";
  /** How a value is written on its bar and on the axis. */
  format?: (value: number) => string;
}

/** Where a panel goes in the document, in px. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";
const AXIS = "#57606a";
const GRID = "#d0d7de";
const TEXT = "#1f2328";

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

const num = (value: number) => Number(value.toFixed(1)).toString();

function text(
  x: number,
  y: number,
  content: string,
  attrs: {
    size?: number;
    anchor?: "start" | "middle" | "end";
    weight?: string;
    fill?: string;
    transform?: string;
  } = {},
): string {
  const parts = [
    `x="${num(x)}"`,
    `y="${num(y)}"`,
    `font-size="${attrs.size ?? 11}"`,
    `fill="${attrs.fill ?? TEXT}"`,
  ];
  if (attrs.anchor && attrs.anchor !== "start") parts.push(`text-anchor="${attrs.anchor}"`);
  if (attrs.weight) parts.push(`font-weight="${attrs.weight}"`);
  if (attrs.transform) parts.push(`transform="${attrs.transform}"`);
  return `<text ${parts.join(" ")}>${escapeXml(content)}</text>`;
}

function rect(x: number, y: number, width: number, height: number, fill: string, title?: string) {
  const tooltip = title ? `<title>${escapeXml(title)}</title>` : "";
  return `<rect x="${num(x)}" y="${num(y)}" width="${num(Math.max(0, width))}" height="${num(Math.max(0, height))}" fill="${fill}">${tooltip}</rect>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, dash = false) {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" stroke="${stroke}" stroke-width="1"${dash ? ' stroke-dasharray="3 3"' : ""}/>`;
}

/** Short numbers for axes and labels: 950, 1.2k, 13k, 1.5M; below 10, one decimal. */
export function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  if (abs >= 10 || Number.isInteger(value)) return Math.round(value).toString();
  return value.toFixed(1);
}

function trim(value: number): string {
  return Math.abs(value) >= 10 ? Math.round(value).toString() : Number(value.toFixed(1)).toString();
}

interface Axis {
  /** Position of a value along the axis, 0…1. */
  at(value: number): number;
  ticks: number[];
}

function linearAxis(max: number): Axis {
  const top = max > 0 ? max : 1;
  const rough = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 2.5, 5, 10].find((f) => f * magnitude >= rough) ?? 10) * magnitude;
  const end = Math.ceil(top / step) * step;
  const ticks: number[] = [];
  for (let tick = 0; tick <= end + step / 2; tick += step) ticks.push(tick);
  return { at: (value) => value / end, ticks };
}

function logAxis(min: number, max: number): Axis {
  const lo = 10 ** Math.floor(Math.log10(min > 0 ? min : 1));
  let hi = 10 ** Math.ceil(Math.log10(max > 0 ? max : 10));
  if (hi <= lo) hi = lo * 10;
  const ticks: number[] = [];
  for (let decade = lo; decade < hi; decade *= 10) {
    for (const f of [1, 2, 5]) ticks.push(decade * f);
  }
  ticks.push(hi);
  const span = Math.log10(hi) - Math.log10(lo);
  return { at: (value) => (Math.log10(Math.max(value, lo)) - Math.log10(lo)) / span, ticks };
}

function axisFor(chart: BarChart): Axis {
  const values = chart.groups
    .flatMap((g) => g.values)
    .filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(0, ...values);
  if (chart.scale === "log") return logAxis(Math.min(...values.filter((v) => v > 0), max), max);
  return linearAxis(max);
}

function legend(series: readonly Series[], x: number, y: number): string {
  let offset = 0;
  const parts: string[] = [];
  for (const s of series) {
    parts.push(rect(x + offset, y - 9, 10, 10, s.color));
    parts.push(text(x + offset + 14, y, s.name, { size: 11 }));
    offset += 24 + s.name.length * 6.2;
  }
  return parts.join("");
}

/** Groups along the x axis, bars side by side in each group, values up the y axis. */
export function verticalBars(chart: BarChart, box: Box): string {
  const format = chart.format ?? compact;
  const axis = axisFor(chart);
  const plot = { x: box.x + 52, y: box.y + 44, width: box.width - 64, height: box.height - 84 };
  const parts: string[] = [
    text(box.x, box.y + 14, chart.title, { size: 14, weight: "600" }),
    legend(chart.series, box.x, box.y + 32),
  ];
  for (const tick of axis.ticks) {
    const y = plot.y + plot.height * (1 - axis.at(tick));
    parts.push(line(plot.x, y, plot.x + plot.width, y, GRID, tick !== 0));
    parts.push(text(plot.x - 6, y + 4, format(tick), { anchor: "end", fill: AXIS, size: 10 }));
  }
  parts.push(
    text(box.x + 10, plot.y + plot.height / 2, chart.axis, {
      anchor: "middle",
      fill: AXIS,
      size: 10,
      transform: `rotate(-90 ${num(box.x + 10)} ${num(plot.y + plot.height / 2)})`,
    }),
  );
  const groupWidth = plot.width / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, chart.series.length);
  chart.groups.forEach((group, g) => {
    const left = plot.x + g * groupWidth + groupWidth * 0.1;
    group.values.forEach((value, s) => {
      if (value === null || !Number.isFinite(value)) return;
      const height = plot.height * axis.at(value);
      const x = left + s * barWidth;
      const y = plot.y + plot.height - height;
      const series = chart.series[s];
      parts.push(
        rect(
          x + 1,
          y,
          barWidth - 2,
          height,
          series?.color ?? AXIS,
          `${group.label}, ${series?.name}: ${format(value)}`,
        ),
      );
      parts.push(
        text(x + barWidth / 2, y - 3, format(value), { anchor: "middle", size: 9, fill: AXIS }),
      );
    });
    parts.push(
      text(plot.x + g * groupWidth + groupWidth / 2, plot.y + plot.height + 16, group.label, {
        anchor: "middle",
        size: 11,
      }),
    );
  });
  parts.push(line(plot.x, plot.y + plot.height, plot.x + plot.width, plot.y + plot.height, AXIS));
  return `<g>${parts.join("")}</g>`;
}

/** Groups down the y axis (labels on the left), bars stacked under each other, values along x. */
export function horizontalBars(chart: BarChart, box: Box, labelWidth = 210): string {
  const format = chart.format ?? compact;
  const axis = axisFor(chart);
  const plot = {
    x: box.x + labelWidth,
    y: box.y + 44,
    width: box.width - labelWidth - 56,
    height: box.height - 72,
  };
  const parts: string[] = [
    text(box.x, box.y + 14, chart.title, { size: 14, weight: "600" }),
    legend(chart.series, box.x, box.y + 32),
  ];
  for (const tick of axis.ticks) {
    const x = plot.x + plot.width * axis.at(tick);
    parts.push(line(x, plot.y, x, plot.y + plot.height, GRID, tick !== 0));
    parts.push(
      text(x, plot.y + plot.height + 14, format(tick), { anchor: "middle", fill: AXIS, size: 10 }),
    );
  }
  parts.push(
    text(plot.x + plot.width / 2, plot.y + plot.height + 27, chart.axis, {
      anchor: "middle",
      fill: AXIS,
      size: 10,
    }),
  );
  const groupHeight = plot.height / Math.max(1, chart.groups.length);
  const barHeight = (groupHeight * 0.8) / Math.max(1, chart.series.length);
  chart.groups.forEach((group, g) => {
    const top = plot.y + g * groupHeight + groupHeight * 0.1;
    group.values.forEach((value, s) => {
      if (value === null || !Number.isFinite(value)) return;
      const width = plot.width * axis.at(value);
      const y = top + s * barHeight;
      const series = chart.series[s];
      parts.push(
        rect(
          plot.x,
          y + 0.5,
          width,
          barHeight - 1,
          series?.color ?? AXIS,
          `${group.label}, ${series?.name}: ${format(value)}`,
        ),
      );
      parts.push(
        text(plot.x + width + 4, y + barHeight / 2 + 3.5, format(value), { size: 9, fill: AXIS }),
      );
    });
    parts.push(
      text(plot.x - 8, plot.y + g * groupHeight + groupHeight / 2 + 4, group.label, {
        anchor: "end",
        size: 11,
      }),
    );
  });
  parts.push(line(plot.x, plot.y, plot.x, plot.y + plot.height, AXIS));
  return `<g>${parts.join("")}</g>`;
}

/** A whole SVG document: a white background, the panels, an optional footnote at the bottom. */
export function svgDocument(
  width: number,
  height: number,
  panels: readonly string[],
  options: { title: string; footnote?: string },
): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} role="img" aria-label="${escapeXml(options.title)}">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...panels,
    options.footnote ? text(12, height - 10, options.footnote, { size: 10, fill: AXIS }) : "",
    "</svg>",
    "",
  ].join("\n");
}
