import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { packageVersion } from "../../bin/package-version.ts";

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

  it("answers unknown commands and options by naming the known ones, and missing arguments with usage", () => {
    for (const args of [["frobnicate", "x"], ["frobnicate"]]) {
      const unknown = run(...args);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(
        "unknown command 'frobnicate': the commands are status, debug-event, dlq, validate-config, metrics, apply, export, tail, listen, check, explain, sql, pause, resume",
      );
    }
    const option = run("check", "--frob", "a == 1");
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--frob'");
    expect(option.stderr).toContain("-v, --version");
    expect(run("check").stderr).toContain("check needs a condition");
    const bare = run();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Usage: fraiseql-observers <command>");
  });

  it("--help prints the commands and options and succeeds", () => {
    for (const flag of ["--help", "-h"]) {
      const help = run(flag);
      expect(help.code).toBe(0);
      for (const command of ["status", "debug-event", "dlq", "apply", "export", "tail", "listen"]) {
        expect(help.stdout).toContain(`\n  ${command} `);
      }
      expect(help.stdout).toContain("check           parse a condition");
      expect(help.stdout).toContain("-v, --version");
      expect(help.stdout).toContain("3 server unreachable or token refused");
    }
    for (const flag of ["--help", "-h"]) {
      const help = run("check", flag);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Usage: fraiseql-observers check <condition>");
    }
  });

  it("--version and -v print the package's version", () => {
    const manifest = JSON.parse(
      readFileSync(join(import.meta.dirname, "../../package.json"), "utf8"),
    );
    for (const flag of ["--version", "-v"]) {
      expect(run(flag)).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: "" });
    }
  });
});

describe("packageVersion", () => {
  it("finds the package's manifest from bin/ (sources) and dist/bin/ (built, installed)", () => {
    const root = mkdtempSync(join(tmpdir(), "cli-version-"));
    try {
      const manifest = { name: "fraiseql-observers", version: "9.8.7" };
      writeFileSync(join(root, "package.json"), JSON.stringify(manifest));
      mkdirSync(join(root, "dist", "bin"), { recursive: true });
      // The built layout: dist/ may hold a manifest of its own (a build's type: module marker).
      writeFileSync(join(root, "dist", "package.json"), JSON.stringify({ type: "module" }));
      const at = (path: string) => pathToFileURL(join(root, path));
      expect(packageVersion(at("bin/fraiseql-observers.ts"))).toBe("9.8.7");
      expect(packageVersion(at("dist/bin/fraiseql-observers.js"))).toBe("9.8.7");
      // Never another package's version, e.g. a host app's manifest found by mistake.
      writeFileSync(
        join(root, "package.json"),
        JSON.stringify({ name: "host-app", version: "1.0.0" }),
      );
      expect(() => packageVersion(at("bin/fraiseql-observers.ts"))).toThrow(
        "no package.json of fraiseql-observers above",
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
