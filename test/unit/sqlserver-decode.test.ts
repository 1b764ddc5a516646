/**
 * Decoding of change-table values. Each fixture value has the shape tedious 19 (mssql 12) returns
 * for the select list the reader sends (tedious lib/value-parser.js; mssql leaves values as
 * tedious gives them unless a valueHandler is registered):
 * - bit -> boolean; tinyint/smallint/int/real/float -> number; bigint -> string (readBigInt:
 *   `value.toString()`); binary/varbinary/image -> Buffer; char/varchar/nchar/nvarchar/text/ntext/
 *   xml/uniqueidentifier -> string (uniqueidentifier in uppercase);
 * - date/datetime/smalldatetime -> Date built with Date.UTC from the stored fields (useUTC: true);
 * - decimal/numeric/money/smallmoney/datetime2/datetimeoffset/time/hierarchyid/geography -> the
 *   string SQL Server's CONVERT produces (queries.ts converts them; see "CAST and CONVERT": money
 *   style 2, date and time style 121).
 */
import { describe, expect, it } from "vitest";
import { decodeRow, decodeValue } from "../../adapters/drivers/sqlserver/decode.ts";
import {
  type CapturedColumn,
  changesSql,
  checkInstanceName,
  columnExpression,
  quoteIdentifier,
} from "../../adapters/drivers/sqlserver/queries.ts";

const column = (name: string, type: string, ordinal = 1): CapturedColumn => ({
  name,
  type,
  ordinal,
  lob: false,
});

describe("sqlserver decode", () => {
  const cases: [string, unknown, unknown][] = [
    ["bit", true, true],
    ["bit", false, false],
    ["tinyint", 255, 255],
    ["smallint", -32768, -32768],
    ["int", 2147483647, 2147483647],
    ["bigint", "-42", -42],
    ["bigint", "9007199254740991", 9007199254740991],
    ["bigint", "9007199254740993", "9007199254740993"],
    ["bigint", "-9223372036854775808", "-9223372036854775808"],
    ["real", 0.5, 0.5],
    ["float", 1.7976931348623157e308, 1.7976931348623157e308],
    ["decimal", "12345678901234567890.123456789", "12345678901234567890.123456789"],
    ["numeric", "-0.10", "-0.10"],
    ["money", "922337203685477.5807", "922337203685477.5807"],
    ["smallmoney", "-214748.3648", "-214748.3648"],
    ["date", new Date(Date.UTC(2024, 0, 31)), "2024-01-31"],
    // tedious readDate: new Date(Date.UTC(2000, 0, days - 730118)), days = 0 for 0001-01-01.
    ["date", new Date(Date.UTC(2000, 0, 0 - 730118)), "0001-01-01"],
    ["datetime", new Date(Date.UTC(2024, 0, 31, 13, 45, 0, 997)), "2024-01-31T13:45:00.997"],
    ["smalldatetime", new Date(Date.UTC(2024, 0, 31, 13, 45)), "2024-01-31T13:45:00.000"],
    ["datetime2", "2024-01-31 13:45:00.1234567", "2024-01-31T13:45:00.1234567"],
    ["datetime2", "2024-01-31 13:45:00", "2024-01-31T13:45:00"],
    ["datetimeoffset", "2024-01-31 13:45:00.1234567 +02:00", "2024-01-31T13:45:00.1234567+02:00"],
    ["datetimeoffset", "2024-01-31 13:45:00 -05:30", "2024-01-31T13:45:00-05:30"],
    ["time", "13:45:00.1234567", "13:45:00.1234567"],
    [
      "uniqueidentifier",
      "6F9619FF-8B86-D011-B42D-00C04FC964FF",
      "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ],
    ["varbinary", Buffer.from([0, 1, 2, 255]), "AAEC/w=="],
    ["binary", Buffer.from("0000000000000fa1", "hex"), "AAAAAAAAD6E="],
    ["image", Buffer.alloc(0), ""],
    ["nvarchar", "héllo ✓", "héllo ✓"],
    ["char", "ab   ", "ab   "],
    ["xml", "<a b='1'/>", "<a b='1'/>"],
    ["hierarchyid", "/1/2/", "/1/2/"],
    ["geography", "POINT (1 2)", "POINT (1 2)"],
    ["int", null, null],
    ["datetime2", null, null],
  ];
  it.each(cases)("%s %o", (type, value, expected) => {
    expect(decodeValue(type, value)).toEqual(expected);
  });

  it("decodes a row by the captured columns, leaving the __$ columns out", () => {
    const row = {
      __$start_lsn: Buffer.alloc(10),
      __$seqval: Buffer.alloc(10),
      __$operation: 2,
      __$update_mask: Buffer.from([7]),
      __$commit_time: new Date(0),
      id: "9007199254740993",
      price: "10.50",
      ok: true,
    };
    expect(
      decodeRow(
        [column("id", "bigint", 1), column("price", "decimal", 2), column("ok", "bit", 3)],
        row,
      ),
    ).toEqual({ id: "9007199254740993", price: "10.50", ok: true });
  });
});

describe("sqlserver select list", () => {
  it("converts the types tedious would round or strip, on the server", () => {
    expect(
      [
        column("d", "decimal"),
        column("n", "numeric"),
        column("m", "money"),
        column("s", "smallmoney"),
        column("t2", "datetime2"),
        column("to", "datetimeoffset"),
        column("t", "time"),
        column("h", "hierarchyid"),
        column("g", "geography"),
        column("i", "int"),
        column("dt", "datetime"),
        column("b", "varbinary"),
      ].map(columnExpression),
    ).toEqual([
      "CONVERT(varchar(48), [d]) AS [d]",
      "CONVERT(varchar(48), [n]) AS [n]",
      "CONVERT(varchar(32), [m], 2) AS [m]",
      "CONVERT(varchar(32), [s], 2) AS [s]",
      "CONVERT(varchar(40), [t2], 121) AS [t2]",
      "CONVERT(varchar(40), [to], 121) AS [to]",
      "CONVERT(varchar(40), [t], 121) AS [t]",
      "CONVERT(nvarchar(max), [h]) AS [h]",
      "CONVERT(nvarchar(max), [g]) AS [g]",
      "[i]",
      "[dt]",
      "[b]",
    ]);
  });

  it("quotes column names and refuses unsafe capture instance names", () => {
    expect(quoteIdentifier("we]ird [name")).toBe("[we]]ird [name]");
    expect(changesSql("dbo_t", [column("a]b", "int")])).toBe(
      "SELECT TOP (@limit) __$start_lsn, __$seqval, __$operation, __$update_mask, sys.fn_cdc_map_lsn_to_time(__$start_lsn) AS [__$commit_time], [a]]b] FROM cdc.[fn_cdc_get_all_changes_dbo_t](@from_lsn, @to_lsn, N'all update old') ORDER BY __$start_lsn, __$seqval, __$operation",
    );
    for (const name of ["dbo_t]", "a b", "x;DROP", "", "é", "a".repeat(101), "t'"]) {
      expect(() => checkInstanceName(name)).toThrow(
        expect.objectContaining({ code: "SOURCE_CAPTURE_INSTANCE_UNSAFE" }),
      );
    }
    expect(checkInstanceName("Sales_Order_v2")).toBe("Sales_Order_v2");
  });
});
