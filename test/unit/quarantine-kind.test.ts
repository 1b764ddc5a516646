/** Which failed outcome writes are split and quarantined, and which are written again whole. */
import { describe, expect, it } from "vitest";
import { failureKind } from "../../src/store/quarantine.ts";

const withState = (code: string) => Object.assign(new Error("refused"), { code });

describe("failureKind", () => {
  it.each([
    ["23514", "row"], // check_violation
    ["23502", "row"], // not_null_violation
    ["23505", "row"], // unique_violation
    ["22P02", "row"], // invalid_text_representation
    ["22001", "row"], // string_data_right_truncation
    ["P0001", "maybe-row"], // raise_exception, from a trigger
    ["P0004", "maybe-row"], // assert_failure
    ["44000", "maybe-row"], // with_check_option_violation
    ["08006", "transient"], // connection_failure
    ["57P01", "transient"], // admin_shutdown
    ["57014", "transient"], // query_canceled
    ["53100", "transient"], // disk_full
    ["40001", "transient"], // serialization_failure
    ["25006", "transient"], // read_only_sql_transaction (a standby after failover)
    ["42P01", "transient"], // undefined_table: every row, not one
    ["CONNECTION_CLOSED", "transient"], // postgres.js, no SQLSTATE
    ["ECONNREFUSED", "transient"],
  ] as const)("%s is %s", (code, kind) => {
    expect(failureKind(withState(code))).toBe(kind);
  });

  it("treats an error without a code as transient", () => {
    expect(failureKind(new Error("socket hang up"))).toBe("transient");
    expect(failureKind("text")).toBe("transient");
  });
});
