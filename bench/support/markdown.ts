/**
 * Markdown output for the results files: GitHub-flavoured tables, and writing
 * bench/results/<name>.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";

/** A cell's text with what would break a table row escaped (pipes, newlines). */
export function escapeCell(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("|", "\\|").replaceAll(/\r?\n/g, " ");
}

/**
 * A GitHub-flavoured markdown table. The first `alignLeft` columns are left-aligned, the rest
 * right-aligned (numbers).
 */
export function markdownTable(headers: string[], rows: string[][], alignLeft = 1): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(" | ")} |`;
  const rule = `| ${headers.map((_, c) => (c < alignLeft ? "---" : "---:")).join(" | ")} |`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** Writes bench/results/<file> (e.g. `runtime.md`, `runtime.svg`) and says where. */
export function writeResultFile(file: string, text: string): void {
  const resultsDir = new URL("../results/", import.meta.url);
  mkdirSync(resultsDir, { recursive: true });
  const target = new URL(file, resultsDir);
  writeFileSync(target, text.endsWith("\n") ? text : `${text}\n`);
  console.log(`Results written to ${target.pathname}`);
}
