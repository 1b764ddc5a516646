/** What every command is: its options, help and `run`; and what `run` gets. */
import type { ParseArgsConfig } from "node:util";
import type { ApiClient } from "./client.ts";
import type { Format } from "./output.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  /** The arguments after the command's name. */
  args: string[];
  values: Values;
  format: Format;
  /** The server client (built on first use: offline commands never need one). */
  client(): ApiClient;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** `fraiseql-observers <name> ...` and what follows, for `<name> --help`. */
  help: string;
  options?: Options;
  /** Exit code. */
  run(context: CommandContext): Promise<number> | number;
}

/** A string option's value (undefined when absent). */
export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** A non-negative integer option (usage error otherwise). */
export function integerOption(values: Values, name: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text))
    throw new UsageError(`--${name}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Thrown for a usage error inside a command: exit 2 with the command's help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
