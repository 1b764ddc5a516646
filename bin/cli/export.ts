/** `export`: today's observers as an observers file (`export | apply` changes nothing). */
import { writeFileSync } from "node:fs";
import { type Command, stringOption } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { renderFile } from "./export-file.ts";
import { managedObservers, managedScope, TENANT_HELP, tenantOption } from "./observers-io.ts";
import { warn } from "./output.ts";

export const exportCommand: Command = {
  name: "export",
  summary: "write today's observers as an observers file (YAML; --format json)",
  help: `export [--output <file>] [--tenant <id>]   (--format json for JSON; secrets read [REDACTED])
  ${TENANT_HELP}`,
  options: { output: { type: "string", short: "o" }, ...tenantOption },
  async run(context) {
    const client = context.client();
    const scope = await managedScope(client, stringOption(context.values, "tenant"));
    const observers = await managedObservers(client, scope.tenant);
    const text = renderFile(observers, context.format === "json" ? "json" : "yaml");
    const output = stringOption(context.values, "output");
    if (output === undefined) process.stdout.write(text);
    else {
      try {
        writeFileSync(output, text);
      } catch (error) {
        throw new CliError(EXIT.usage, `--output: cannot write ${output}: ${whyNot(error)}`);
      }
      warn(`wrote ${observers.length} observer(s) to ${output}`);
    }
    return EXIT.ok;
  },
};

/** Why a file could not be written, in words (the system's code otherwise). */
function whyNot(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such directory";
  if (code === "EISDIR") return "it is a directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return typeof code === "string" ? code : String(error);
}
