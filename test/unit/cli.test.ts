import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const cli = join(import.meta.dirname, "../../bin/fraiseql-observers.ts");

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const row = JSON.stringify({
  id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
  object_type: "Order",
  modification_type: "UPDATE",
  object_data: { status: "shipped", total: "150" },
  object_data_before: { status: "pending", total: "150" },
  created_at: "2026-11-27T10:00:00Z",
});

describe("fraiseql-observers CLI", () => {
  it("check prints the canonical form, or the issue with a caret under it", () => {
    expect(run("check", "a==1 AND NOT b")).toMatchObject({ code: 1 });
    expect(run("check", "a==1 AND NOT b").stderr).toContain("error at position 14: expected ==");
    const ok = run("check", "a==1 AND NOT b==2");
    expect(ok).toMatchObject({ code: 0, stdout: "a == 1 && !(b == 2)\n" });
    expect(run("check", "total > 'x'").stderr).toContain("          ^^^");
  });

  it("explain shows every step, the values read and the error", () => {
    const result = run("explain", "field_changed_to('status', 'shipped') && total > 100", row);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("result: error (the observer is skipped)");
    expect(result.stdout).toContain('[old.status = "pending", new.status = "shipped"]');
    expect(result.stdout).toContain(
      "error: '>' compares numbers, but the left side is a string ('150')",
    );
  });

  it("explain refuses a malformed row by naming the column", () => {
    const result = run("explain", "a == 1", '{"id": 1}');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("INVALID_CHANGE_EVENT: id:");
  });

  it("sql prints the predicate and its parameters, or why it cannot", () => {
    const ok = run("sql", "tier in ['gold', 'silver']", "--alias", "log");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('"log".object_data');
    expect(ok.stdout).toContain('-- params: ["{\\"tier\\"}","\\"gold\\"","\\"silver\\""]');
    const refused = run("sql", "code matches '\\d+'");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("means something else");
  });

  it("answers unknown commands and missing arguments with usage", () => {
    expect(run("frobnicate", "x")).toMatchObject({ code: 2 });
    expect(run("check").stderr).toContain("check needs a condition");
    expect(run()).toMatchObject({ code: 2 });
  });
});
