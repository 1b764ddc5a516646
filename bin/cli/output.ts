/**
 * Output: text or JSON on stdout, colours only when stdout is a terminal and NO_COLOR is unset,
 * progress on stderr only when stderr is a terminal.
 */
import { stderr, stdout } from "node:process";

export type Format = "text" | "json";

function colourOn(stream: { isTTY?: boolean }): boolean {
  const noColor = process.env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === "");
}

const paint = (code: number) => (text: string) =>
  colourOn(stdout) ? `\u001b[${code}m${text}\u001b[0m` : text;

export const colour = {
  green: paint(32),
  red: paint(31),
  yellow: paint(33),
  dim: paint(2),
  bold: paint(1),
};

/** Prints a line on stdout. */
export function line(text = ""): void {
  stdout.write(`${text}\n`);
}

/** Prints a value as pretty JSON on stdout. */
export function json(value: unknown): void {
  stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a line on stderr. */
export function warn(text: string): void {
  stderr.write(`${text}\n`);
}

/** A progress line on stderr (`label done/total`), redrawn in place; silent unless a terminal. */
export function progress(label: string, total: number) {
  const on = stderr.isTTY === true;
  let done = 0;
  return {
    tick(step = 1) {
      done += step;
      if (on) stderr.write(`\r${label} ${done}/${total}`);
    },
    end() {
      if (on && total > 0) stderr.write("\n");
    },
  };
}

/** Rows as aligned columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}
