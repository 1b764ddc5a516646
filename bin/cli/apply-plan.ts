/**
 * What `apply` does: the changes that make the server's observers match a file, compared
 * normalised (the file's side validated with defaults filled, the server's as it shows them), and
 * actions compared as the API shows them, secrets redacted (src/store/redact.ts).
 */
import type { JsonValue } from "../../src/json.ts";
import { isJsonObject } from "../../src/json.ts";
import { redactActions } from "../../src/store/redact.ts";
import type { DesiredObserver, FileIssue } from "./observers-file.ts";
import type { ServerObserver } from "./observers-io.ts";

/** JSON with object keys sorted: equal text, equal value. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    isJsonObject(item as JsonValue) && !Array.isArray(item)
      ? Object.fromEntries(
          Object.entries(item as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : item,
  );
}

/** What `apply` does to one observer. */
export type Change =
  | { kind: "create"; name: string; body: Record<string, JsonValue> }
  | { kind: "update"; name: string; id: string; changed: string[]; body: Record<string, JsonValue> }
  | { kind: "delete"; name: string; id: string }
  | { kind: "unchanged"; name: string; id: string };

export interface Plan {
  changes: Change[];
  /** Observers that cannot be applied (placeholders where the actions changed). */
  issues: FileIssue[];
}

/**
 * The changes that make the server's observers match the file: create the new names, update
 * those whose normalised fields differ (only the changed fields are sent; actions are compared as
 * the API shows them, secrets redacted), delete the others when `prune`.
 */
export function plan(
  desired: readonly DesiredObserver[],
  current: readonly ServerObserver[],
  options: { prune: boolean; replaceSecrets: boolean },
): Plan {
  const changes: Change[] = [];
  const issues: FileIssue[] = [];
  const byName = new Map(current.map((observer) => [observer.name, observer]));
  for (const want of desired) {
    const have = byName.get(want.name);
    byName.delete(want.name);
    if (!have) {
      const placeholders = [...want.placeholders, ...want.deadLetterPlaceholders];
      if (placeholders.length > 0) {
        issues.push(
          ...placeholderIssues(
            placeholders,
            "there is no such observer on the server to keep them from",
          ),
        );
        continue;
      }
      changes.push({
        kind: "create",
        name: want.name,
        body: {
          ...want.fields,
          actions: want.actions,
          ...(want.onDeadLetter.length > 0 ? { on_dead_letter: want.onDeadLetter } : {}),
        },
      });
      continue;
    }
    const changed: string[] = [];
    const body: Record<string, JsonValue> = {};
    for (const field of Object.keys(want.fields)) {
      const wanted = want.fields[field] ?? null;
      if (
        canonical(wanted) !== canonical((have as unknown as Record<string, unknown>)[field] ?? null)
      ) {
        changed.push(field);
        body[field] = wanted;
      }
    }
    // The actions, then on_dead_letter's: compared as the API shows them (secrets redacted).
    const lists = [
      ["actions", want.actions, want.placeholders, have.actions],
      ["on_dead_letter", want.onDeadLetter, want.deadLetterPlaceholders, have.on_dead_letter ?? []],
    ] as const;
    let refused = false;
    for (const [field, wanted, placeholders, stored] of lists) {
      const shown = placeholders.length > 0 ? wanted : redactActions(wanted);
      const hasSecrets = canonical(shown) !== canonical(wanted);
      const differ = canonical(shown) !== canonical(stored);
      if (differ || (options.replaceSecrets && hasSecrets && placeholders.length === 0)) {
        if (placeholders.length > 0) {
          issues.push(
            ...placeholderIssues(placeholders, `the ${field} differ from the stored ones`),
          );
          refused = true;
          continue;
        }
        changed.push(differ ? field : `${field} (secrets)`);
        body[field] = wanted as JsonValue[];
      }
    }
    if (refused) continue;
    changes.push(
      changed.length === 0
        ? { kind: "unchanged", name: want.name, id: have.id }
        : { kind: "update", name: want.name, id: have.id, changed, body },
    );
  }
  if (options.prune) {
    for (const [name, have] of byName) changes.push({ kind: "delete", name, id: have.id });
  }
  return { changes, issues };
}

function placeholderIssues(paths: readonly string[], why: string): FileIssue[] {
  return paths.map((path) => ({
    path,
    message: `is a [REDACTED] placeholder (from export) and ${why}: write the secret, or better an *_env reference, in the file`,
  }));
}
