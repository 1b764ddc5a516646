import { describe, expect, it } from "vitest";
import {
  AVAILABLE_SOURCE_KINDS,
  loadSourceReader,
} from "../../adapters/hosts/server/source-readers.ts";

describe("the source readers the servers ship", () => {
  it("reads MySQL/MariaDB and SQL Server", () => {
    expect([...AVAILABLE_SOURCE_KINDS].sort()).toEqual(["mysql", "sqlserver"]);
  });

  it.each(["mysql", "sqlserver"] as const)("loads the %s reader on demand", async (kind) => {
    const reader = await loadSourceReader(kind);
    expect(typeof reader.run).toBe("function");
  });
});
