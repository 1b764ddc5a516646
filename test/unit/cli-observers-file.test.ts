/**
 * The CLI's observers-as-code planning (bin/cli/observers-file.ts) and its Prometheus parser,
 * without a server: what a file normalises to, which differences are updates, and how redacted
 * secrets are handled.
 */
import { describe, expect, it } from "vitest";
import { plan } from "../../bin/cli/apply-plan.ts";
import { exportedObserver } from "../../bin/cli/export-file.ts";
import { parsePrometheus } from "../../bin/cli/metrics.ts";
import { validateDocument } from "../../bin/cli/observers-file.ts";
import type { ServerObserver } from "../../bin/cli/observers-io.ts";
import { redactActions } from "../../src/store/redact.ts";

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** What the server stores and shows for a definition: validated, secrets redacted. */
function served(
  definition: Record<string, unknown>,
  id = "00000000-0000-4000-8000-000000000001",
): ServerObserver {
  const { observers, issues } = validateDocument({ observers: [definition] });
  expect(issues).toEqual([]);
  const [observer] = observers;
  if (!observer) throw new Error("no observer");
  return {
    id,
    ...(observer.fields as Omit<ServerObserver, "id" | "actions" | "fk_customer_org">),
    actions: redactActions(observer.actions),
    on_dead_letter: redactActions(observer.onDeadLetter),
    fk_customer_org: null,
  };
}

const minimal = {
  name: "shipped",
  actions: [{ type: "webhook", url: "https://example.com/hook", signing_secret: secret }],
};

describe("plan", () => {
  it("sees no change where only defaults, case and key order differ", () => {
    const current = served({ ...minimal, event_type: "UPDATE" });
    const file = validateDocument({
      observers: [
        { event_type: "update", enabled: true, priority: 100, retry_config: {}, ...minimal },
      ],
    });
    expect(
      plan(file.observers, [current], { prune: false, replaceSecrets: false }).changes,
    ).toEqual([{ kind: "unchanged", name: "shipped", id: current.id }]);
  });

  it("sends only the changed fields, keeping stored actions (and secrets) when they read the same", () => {
    const current = served(minimal);
    const file = validateDocument({ observers: [{ ...minimal, condition_expression: "a == 1" }] });
    expect(
      plan(file.observers, [current], { prune: false, replaceSecrets: false }).changes,
    ).toEqual([
      {
        kind: "update",
        name: "shipped",
        id: current.id,
        changed: ["condition_expression"],
        body: { condition_expression: "a == 1" },
      },
    ]);
    // --replace-secrets sends the file's actions, secret included, to rotate it.
    const rotated = plan(file.observers, [current], { prune: false, replaceSecrets: true })
      .changes[0];
    expect(rotated).toMatchObject({ changed: ["condition_expression", "actions (secrets)"] });
    expect(JSON.stringify(rotated)).toContain(secret);
  });

  it("creates, and deletes only with prune", () => {
    const other = served({ ...minimal, name: "old" });
    const file = validateDocument({ observers: [minimal] });
    expect(
      plan(file.observers, [other], { prune: false, replaceSecrets: false }).changes.map(
        (c) => c.kind,
      ),
    ).toEqual(["create"]);
    expect(
      plan(file.observers, [other], { prune: true, replaceSecrets: false }).changes.map(
        (c) => c.kind,
      ),
    ).toEqual(["create", "delete"]);
  });

  it("an exported observer applies as unchanged; with other actions its placeholder is refused", () => {
    const current = served({ ...minimal, priority: 5, retry_config: { max_attempts: 2 } });
    const exported = exportedObserver(current);
    expect(JSON.stringify(exported)).not.toContain(secret);
    expect(exported).not.toHaveProperty("enabled");
    const file = validateDocument({ observers: [exported] });
    expect(file.issues).toEqual([]);
    expect(plan(file.observers, [current], { prune: true, replaceSecrets: false }).changes).toEqual(
      [{ kind: "unchanged", name: "shipped", id: current.id }],
    );
    const edited = validateDocument({
      observers: [
        {
          ...exported,
          actions: [{ ...(exported.actions as object[])[0], url: "https://example.com/other" }],
        },
      ],
    });
    const result = plan(edited.observers, [current], { prune: false, replaceSecrets: false });
    expect(result.changes).toEqual([]);
    expect(result.issues).toEqual([
      {
        path: "observers.0.actions.0.signing_secret",
        message: expect.stringContaining(
          "is a [REDACTED] placeholder (from export) and the actions differ",
        ),
      },
    ]);
    // No such observer on the server: nothing to keep the secret from.
    expect(plan(file.observers, [], { prune: false, replaceSecrets: false }).issues).toHaveLength(
      1,
    );
  });
});

describe("parsePrometheus", () => {
  it("reads families, labels with escapes, special values and timestamps", () => {
    const samples = parsePrometheus(
      [
        "# HELP up Whether it is up",
        "# TYPE up gauge",
        'up{job="a\\"b",path="c\\\\d"} 1 1700000000000',
        "# TYPE latency summary",
        'latency{quantile="0.5"} NaN',
        "latency_count 3",
        "no_type +Inf",
      ].join("\n"),
    );
    expect(samples).toEqual([
      {
        name: "up",
        type: "gauge",
        help: "Whether it is up",
        labels: { job: 'a"b', path: "c\\d" },
        value: 1,
      },
      { name: "latency", type: "summary", help: null, labels: { quantile: "0.5" }, value: "NaN" },
      { name: "latency_count", type: "summary", help: null, labels: {}, value: 3 },
      { name: "no_type", type: "untyped", help: null, labels: {}, value: "+Inf" },
    ]);
  });

  it("names the line it cannot read", () => {
    expect(() => parsePrometheus("ok 1\n<html>")).toThrow("line 2: not a sample: <html>");
    expect(() => parsePrometheus('x{a="1" 2')).toThrow("line 1");
  });
});

describe("on_dead_letter in observers files", () => {
  const alerting = {
    ...minimal,
    on_dead_letter: [
      { type: "webhook", url: "https://oncall.example.com/", signing_secret: secret },
    ],
  };

  it("round-trips through export: the redacted file changes nothing; a change with placeholders is refused", () => {
    const current = served(alerting);
    const exported = exportedObserver(current);
    expect(JSON.stringify(exported)).not.toContain(secret);
    const same = validateDocument({ observers: [exported] });
    expect(same.issues).toEqual([]);
    expect(
      plan(same.observers, [current], { prune: false, replaceSecrets: false }).changes,
    ).toEqual([{ kind: "unchanged", name: "shipped", id: current.id }]);
    const edited = validateDocument({
      observers: [
        {
          ...exported,
          on_dead_letter: [
            { ...(exported.on_dead_letter as object[])[0], url: "https://other.example.com/" },
          ],
        },
      ],
    });
    const result = plan(edited.observers, [current], { prune: false, replaceSecrets: false });
    expect(result.changes).toEqual([]);
    expect(result.issues[0]?.path).toBe("observers.0.on_dead_letter.0.signing_secret");
  });

  it("sends on_dead_letter when it changed, with its secrets", () => {
    const current = served(minimal);
    const file = validateDocument({ observers: [alerting] });
    const [change] = plan(file.observers, [current], {
      prune: false,
      replaceSecrets: false,
    }).changes;
    expect(change).toMatchObject({ kind: "update", changed: ["on_dead_letter"] });
    expect(JSON.stringify(change)).toContain(secret);
    // An observer without on_dead_letter exports none.
    expect(exportedObserver(current)).not.toHaveProperty("on_dead_letter");
  });
});
