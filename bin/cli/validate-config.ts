/** `validate-config <file>`: an observers file checked offline, with the server's own schemas. */
import { type Command, UsageError } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { readDocument, validateDocument } from "./observers-file.ts";
import { colour, json, line, warn } from "./output.ts";

export const validateConfig: Command = {
  name: "validate-config",
  summary: "check an observers file (YAML or JSON) offline: schema, conditions, actions",
  help: "validate-config <file.yaml|json>",
  run(context) {
    const file = context.args[0];
    if (file === undefined) throw new UsageError("validate-config needs a file");
    const result = validateDocument(readDocument(file));
    const placeholders = result.observers.flatMap((observer) => observer.placeholders);
    if (context.format === "json") {
      json({
        valid: result.issues.length === 0,
        observers: result.observers.length,
        issues: result.issues,
        redacted_placeholders: placeholders,
      });
    } else {
      for (const issue of result.issues)
        warn(`${file}: ${issue.path || "(document)"}: ${issue.message}`);
      for (const path of placeholders) {
        warn(
          `${file}: ${path}: ${colour.yellow("note")}: a [REDACTED] placeholder; this observer's actions are not checked, and apply keeps the stored ones only if they read the same`,
        );
      }
      if (result.issues.length === 0) {
        line(`${file}: ${result.observers.length} observer(s), valid`);
      } else {
        line(`${file}: ${result.issues.length} problem(s)`);
      }
    }
    return result.issues.length === 0 ? EXIT.ok : EXIT.failed;
  },
};
