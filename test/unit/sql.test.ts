import { describe, expect, it } from "vitest";
import { changeLogSqlImages, conditionToSql } from "../../src/index.ts";

function compiled(source: string, options?: Parameters<typeof conditionToSql>[1]) {
  const result = conditionToSql(source, options);
  if (!result.success) throw new Error(result.issues[0]?.message);
  return result;
}

describe("conditionToSql", () => {
  it("parameterises every value and path, reusing repeated ones", () => {
    const result = compiled("status == 'it\\'s' || status == 'x' && total > 5 && total < 5");
    expect(result.params).toEqual(['{"status"}', `"it's"`, '"x"', '{"total"}', "5"]);
    expect(result.sql).not.toContain("it's");
    expect(result.sql).toContain("$5::text::numeric");
    expect(result.sql).not.toContain("$6");
  });

  it("numbers parameters after the surrounding query's, and uses the given alias", () => {
    const result = compiled("total > 5", { alias: "log", parameterOffset: 3 });
    expect(result.sql).toContain("$4::text::text[]");
    expect(result.sql).toContain("$5::text::numeric");
    expect(result.sql).toContain('"log".object_data');
    expect(result.sql).not.toContain('"e".');
  });

  it("quotes a hostile alias as an identifier", () => {
    expect(changeLogSqlImages('x"; DROP TABLE t; --').data).toContain(
      '"x""; DROP TABLE t; --".object_data',
    );
  });

  it("accepts image expressions of the caller's own", () => {
    const images = {
      data: "img.data",
      before: "img.before",
      after: "img.after",
      eventType: "img.op",
    };
    const result = compiled("field_changed('a') && b == 1", { images });
    expect(result.sql).toContain("img.op <> 'UPDATE'");
    expect(result.sql).toContain("(img.data #> $2::text::text[])");
    expect(result.sql).not.toContain("object_data");
  });

  it("folds comparisons between two literals", () => {
    expect(compiled("1 == 1.0").sql).toBe("TRUE");
    expect(compiled("2 < 1 || 'a' != 'a'").sql).toBe("(FALSE OR FALSE)");
  });

  it("says precisely which pattern has no identical PostgreSQL form", () => {
    const source = "status == 'x' && code matches '^\\d+$'";
    const result = conditionToSql(source);
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.issues).toEqual([
      {
        message: expect.stringContaining("\\d"),
        position: source.indexOf("'^"),
        length: "'^\\d+$'".length,
        text: "'^\\d+$'",
      },
    ]);
  });

  it.each([
    ["name matches '\\bword'", "\\b"],
    ["name matches '[[:alpha:]]'", "named classes"],
    ["name matches 'a(?i)b'", "case-insensitive"],
    ["name matches '(?i)straße'", "case-insensitive"],
    ["name matches '(?s)a'", "special groups"],
    ["name matches '^*'", "must follow something to repeat"],
    ["name matches 'a|$+'", "must follow something to repeat"],
    ["name matches 'a{300}'", "255"],
    ["name matches '[]a]'", "escape it"],
  ])("refuses %s", (source, reason) => {
    const result = conditionToSql(source);
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues[0]?.message).toContain(reason);
  });

  it.each([
    "name matches '^a.c$'",
    "name matches '(ab|cd)+?x{2,3}[a-z0-9_\\-]*\\.'",
    "name matches '(^)*a'",
    "name matches 'tab\\there'",
  ])("compiles the portable pattern %s", (source) => {
    expect(conditionToSql(source).success).toBe(true);
  });

  it("refuses strings with a NUL character, which PostgreSQL text cannot hold", () => {
    const result = conditionToSql("a == 'x\u0000y'");
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues[0]?.message).toContain("NUL");
  });

  it("returns the parse issues for an invalid condition", () => {
    const result = conditionToSql("total >");
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues[0]?.position).toBe(7);
  });
});
