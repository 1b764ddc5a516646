export { classifyMysqlError } from "./errors.ts";
export { connectionOptions, createMysqlReader } from "./mysql-reader.ts";
