export { splitTableName } from "./catalog.ts";
export {
  connectMssql,
  isAdoConnectionString,
  parseSqlServerUrl,
  resolveSqlServerUrl,
  type SqlColumn,
  type SqlParam,
  type SqlResult,
  type SqlServerConnect,
  type SqlServerConnection,
} from "./connection.ts";
export { classifySqlServerError } from "./errors.ts";
export { createSqlServerReader, type SqlServerReaderOptions } from "./reader.ts";
