/** The command line: global options, the command table, dispatch and exit codes. */
import { parseArgs } from "node:util";
import { toObserversError } from "../../src/index.ts";
import { packageVersion } from "../package-version.ts";
import { apply } from "./apply.ts";
import { ApiClient } from "./client.ts";
import type { Command, Options, Values } from "./command.ts";
import { UsageError } from "./command.ts";
import { debugEvent } from "./debug-event.ts";
import { dlq } from "./dlq.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { exportCommand } from "./export.ts";
import { listen } from "./listen.ts";
import { metrics } from "./metrics.ts";
import { check, explain, sql } from "./offline.ts";
import type { Format } from "./output.ts";
import { pause, resume } from "./pause.ts";
import { status } from "./status.ts";
import { tail } from "./tail.ts";
import { validateConfig } from "./validate-config.ts";

export const COMMANDS: readonly Command[] = [
  status,
  debugEvent,
  dlq,
  validateConfig,
  metrics,
  apply,
  exportCommand,
  tail,
  listen,
  check,
  explain,
  sql,
  pause,
  resume,
];

const GLOBAL_OPTIONS: Options = {
  "base-url": { type: "string" },
  "admin-token": { type: "string" },
  format: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
};

const GLOBAL_HELP = `Global options:
  --base-url <url>       the server (default: $OBSERVERS_URL or http://localhost:8080)
  --admin-token <token>  a key or the admin token (default: $OBSERVERS_TOKEN); never printed
  --format text|json     output format (default: text)
  -h, --help             print help (of a command: <command> --help)
  -v, --version          print the version

Exit codes: 0 ok, 1 failed or found something wrong, 2 usage error,
            3 server unreachable or token refused. See docs/cli.md.`;

export const USAGE = `Usage: fraiseql-observers <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(16)}${command.summary}`).join("\n")}

${GLOBAL_HELP}
`;

function commandHelp(command: Command): string {
  return `Usage: fraiseql-observers ${command.help}\n\n${command.summary}\n\n${GLOBAL_HELP}\n`;
}

/** The command's name: the first argument that is neither an option nor a global option's value. */
function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") return argv[i + 1];
    if (!arg.startsWith("-")) return arg;
    const name = arg.replace(/^--?/, "");
    const option = GLOBAL_OPTIONS[name];
    if (option?.type === "string" && !arg.includes("=")) i++;
  }
  return undefined;
}

const write = (stream: NodeJS.WriteStream, text: string) =>
  stream.write(text.endsWith("\n") ? text : `${text}\n`);

export async function main(argv: string[]): Promise<number> {
  const name = commandName(argv);
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (name !== undefined && !command) {
    write(
      process.stderr,
      `unknown command '${name}': the commands are ${COMMANDS.map((c) => c.name).join(", ")} (fraiseql-observers --help)`,
    );
    return EXIT.usage;
  }
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...GLOBAL_OPTIONS, ...(command?.options ?? {}) },
    }) as { values: Values; positionals: string[] });
  } catch (error) {
    // node:util's own message names the option ("Unknown option '--frob'").
    const message = error instanceof Error ? error.message : String(error);
    write(process.stderr, `${message}\n\n${command ? commandHelp(command) : USAGE}`);
    return EXIT.usage;
  }
  if (values.version) {
    write(process.stdout, packageVersion());
    return EXIT.ok;
  }
  if (values.help) {
    write(process.stdout, command ? commandHelp(command) : USAGE);
    return EXIT.ok;
  }
  if (!command) {
    write(process.stderr, USAGE);
    return EXIT.usage;
  }
  const format = (typeof values.format === "string" ? values.format : "text") as Format;
  if (format !== "text" && format !== "json") {
    write(process.stderr, `--format: expected text or json, got ${JSON.stringify(format)}`);
    return EXIT.usage;
  }
  let client: ApiClient | undefined;
  const context = {
    args: positionals.slice(1),
    values,
    format,
    client: () => {
      client ??= new ApiClient({
        baseUrl:
          (typeof values["base-url"] === "string" ? values["base-url"] : undefined) ??
          process.env.OBSERVERS_URL ??
          "http://localhost:8080",
        token:
          (typeof values["admin-token"] === "string" ? values["admin-token"] : undefined) ??
          (process.env.OBSERVERS_TOKEN || undefined),
      });
      return client;
    },
  };
  try {
    return await command.run(context);
  } catch (error) {
    if (error instanceof UsageError) {
      write(process.stderr, `${error.message}\n\n${commandHelp(command)}`);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      write(process.stderr, error.message);
      return error.code;
    }
    const failure = toObserversError(error);
    write(process.stderr, `${failure.code}: ${failure.message}`);
    return EXIT.failed;
  }
}
