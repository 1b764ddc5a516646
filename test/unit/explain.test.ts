import { describe, expect, it } from "vitest";
import { explainCondition } from "../../src/index.ts";
import { insert, update } from "../support/events.ts";

function explained(source: string, event: Parameters<typeof explainCondition>[1]) {
  const result = explainCondition(source, event);
  if (!result.success) throw new Error(result.issues[0]?.message);
  return result;
}

describe("explainCondition", () => {
  it("gives the value of every sub-expression and the values it read", () => {
    const event = update({ status: "shipped", total: 80 }, { status: "pending", total: 80 });
    const result = explained("field_changed_to('status', 'shipped') && total > 100", event);
    expect(result.result).toBe(false);
    const [changed, total] = result.root.children ?? [];
    expect(result.root).toMatchObject({ kind: "and", outcome: "false", position: 0 });
    expect(changed).toMatchObject({
      text: "field_changed_to('status', 'shipped')",
      outcome: "true",
      values: [
        { text: "old.status", value: "pending" },
        { text: "new.status", value: "shipped" },
      ],
    });
    expect(total).toMatchObject({
      text: "total > 100",
      position: 41,
      outcome: "false",
      values: [
        { text: "total", value: 80 },
        { text: "100", value: 100 },
      ],
    });
  });

  it("marks what short-circuiting skipped", () => {
    const result = explained(
      "total > 100 && (status == 'x' || missing == 1)",
      insert({ total: 5 }),
    );
    expect(result.result).toBe(false);
    const skipped = result.root.children?.[1];
    expect(skipped?.outcome).toBe("skipped");
    expect(skipped?.children?.map((c) => c.outcome)).toEqual(["skipped", "skipped"]);
  });

  it("reports an evaluation error with its position, and the missing field", () => {
    const result = explained("total > 1 && missing == 'x'", insert({ total: 5 }));
    expect(result.result).toBeNull();
    expect(result.error).toMatchObject({ position: 13, length: 14 });
    expect(result.error?.message).toContain("'missing' is not in the INSERT event's data");
    expect(result.root.children?.[1]?.values?.[0]).toEqual({ text: "missing", missing: true });
  });

  it("hints at a quoted number compared with a number", () => {
    const result = explained("total == '100'", insert({ total: 100 }));
    expect(result.result).toBe(false);
    expect(result.root.hint).toContain("write 100 without quotes");
    const changed = explained(
      "field_changed_to('total', '100')",
      update({ total: 100 }, { total: 5 }),
    );
    expect(changed.root.hint).toContain("write 100 without quotes");
  });

  it("explains why field_changed is false outside updates", () => {
    const result = explained("field_changed('status')", insert({ status: "x" }));
    expect(result.result).toBe(false);
    expect(result.root.hint).toContain("only updates have changes");
  });

  it("returns the parse issues for an invalid condition", () => {
    const result = explainCondition("total >", insert({}));
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues[0]?.position).toBe(7);
  });

  it("negates through !, keeping errors as errors", () => {
    expect(explained("!(total > 1)", insert({ total: 5 })).result).toBe(false);
    expect(explained("!(nope > 1)", insert({})).result).toBeNull();
  });
});
