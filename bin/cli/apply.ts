/** `apply <file>`: make the server's observers match an observers file. */
import type { JsonValue } from "../../src/json.ts";
import { type Change, plan } from "./apply-plan.ts";
import { type Command, stringOption, UsageError } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { readDocument, validateDocument } from "./observers-file.ts";
import { managedObservers, TENANT_HELP, tenantOption } from "./observers-io.ts";
import { colour, json, line, progress, warn } from "./output.ts";

function describeChange(change: Change): string {
  switch (change.kind) {
    case "create":
      return `${colour.green("+ create")}    ${change.name}`;
    case "update":
      return `${colour.yellow("~ update")}    ${change.name}: ${change.changed.join(", ")}`;
    case "delete":
      return `${colour.red("- delete")}    ${change.name}`;
    case "unchanged":
      return colour.dim(`  unchanged   ${change.name}`);
  }
}

function changeJson(change: Change): Record<string, unknown> {
  const { kind, name } = change;
  return {
    action: kind,
    name,
    ...("id" in change ? { id: change.id } : {}),
    ...(change.kind === "update" ? { changed: change.changed } : {}),
  };
}

export const apply: Command = {
  name: "apply",
  summary: "create, update (by name) and with --prune delete observers to match a file",
  help: `apply <file.yaml|json> [--dry-run] [--prune] [--replace-secrets] [--tenant <id>]
  --dry-run          print the changes, make none
  --prune            delete observers the file does not name
  --replace-secrets  send the actions of observers whose file holds secrets even when they read
                     the same redacted (to rotate a literal secret)
  ${TENANT_HELP}`,
  options: {
    "dry-run": { type: "boolean" },
    prune: { type: "boolean" },
    "replace-secrets": { type: "boolean" },
    ...tenantOption,
  },
  async run(context) {
    const file = context.args[0];
    if (file === undefined) throw new UsageError("apply needs a file");
    const document = validateDocument(readDocument(file));
    if (document.issues.length > 0) {
      for (const issue of document.issues)
        warn(`${file}: ${issue.path || "(document)"}: ${issue.message}`);
      throw new CliError(
        EXIT.failed,
        `${file}: ${document.issues.length} problem(s), nothing applied`,
      );
    }
    const client = context.client();
    const current = await managedObservers(client, stringOption(context.values, "tenant") ?? null);
    const result = plan(document.observers, current, {
      prune: context.values.prune === true,
      replaceSecrets: context.values["replace-secrets"] === true,
    });
    if (result.issues.length > 0) {
      for (const issue of result.issues) warn(`${file}: ${issue.path}: ${issue.message}`);
      throw new CliError(
        EXIT.failed,
        `${file}: ${result.issues.length} problem(s), nothing applied`,
      );
    }
    const dryRun = context.values["dry-run"] === true;
    const writes = result.changes.filter((change) => change.kind !== "unchanged");
    const bar = progress("applying", dryRun ? 0 : writes.length);
    const done: Change[] = [];
    let failure: CliError | undefined;
    if (!dryRun) {
      for (const change of writes) {
        try {
          await write(change);
        } catch (error) {
          failure = error instanceof CliError ? error : new CliError(EXIT.failed, String(error));
          break;
        }
        done.push(change);
        bar.tick();
      }
      bar.end();
    }
    const summary = {
      create: result.changes.filter((c) => c.kind === "create").length,
      update: result.changes.filter((c) => c.kind === "update").length,
      delete: result.changes.filter((c) => c.kind === "delete").length,
      unchanged: result.changes.filter((c) => c.kind === "unchanged").length,
    };
    if (context.format === "json") {
      json({
        dry_run: dryRun,
        changes: result.changes.map(changeJson),
        summary,
        ...(failure ? { applied: done.length, error: failure.message } : {}),
      });
    } else {
      for (const change of result.changes) line(describeChange(change));
      line(
        `${dryRun ? "would " : ""}create ${summary.create}, update ${summary.update}, delete ${summary.delete}, unchanged ${summary.unchanged}${dryRun ? " (dry run: nothing changed)" : ""}`,
      );
    }
    if (failure) {
      throw new CliError(
        failure.code,
        `stopped after ${done.length} of ${writes.length} change(s): ${failure.message}`,
      );
    }
    return EXIT.ok;

    async function write(change: Change): Promise<void> {
      switch (change.kind) {
        case "create":
          await client.call("POST", "/api/observers", {
            body: change.body as Record<string, JsonValue>,
          });
          return;
        case "update":
          await client.call("PATCH", `/api/observers/${change.id}`, { body: change.body });
          return;
        case "delete":
          await client.call("DELETE", `/api/observers/${change.id}`);
          return;
        case "unchanged":
          return;
      }
    }
  },
};
