/** `export`: today's observers as an observers file (`export | apply` changes nothing). */
import { writeFileSync } from "node:fs";
import { type Command, stringOption } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { renderFile } from "./export-file.ts";
import { managedObservers, TENANT_HELP, tenantOption } from "./observers-io.ts";
import { warn } from "./output.ts";

export const exportCommand: Command = {
  name: "export",
  summary: "write today's observers as an observers file (YAML; --format json)",
  help: `export [--output <file>] [--tenant <id>]   (--format json for JSON; secrets read [REDACTED])
  ${TENANT_HELP}`,
  options: { output: { type: "string", short: "o" }, ...tenantOption },
  async run(context) {
    const observers = await managedObservers(
      context.client(),
      stringOption(context.values, "tenant") ?? null,
    );
    const text = renderFile(observers, context.format === "json" ? "json" : "yaml");
    const output = stringOption(context.values, "output");
    if (output === undefined) process.stdout.write(text);
    else {
      writeFileSync(output, text);
      warn(`wrote ${observers.length} observer(s) to ${output}`);
    }
    return EXIT.ok;
  },
};
