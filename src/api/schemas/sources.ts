import { z } from "@hono/zod-openapi";
import { SOURCE_KINDS } from "../../ports/source.ts";
import { safeParseMysqlUrl } from "../../sources/mysql-url.ts";
import { Timestamp } from "./common.ts";

/** MySQL: `database.table`, the names as they are (spaces allowed), without dots or backquotes. */
const MYSQL_TABLE = /^[^.`]+\.[^.`]+$/;
/** SQL Server: `schema.table`, each part a plain name or bracketed (`[sales].[Order Lines]`), as its reader splits it. */
const SQLSERVER_TABLE = /^(\[(?:[^\]]|\]\])+\]|[^.[\]]+)\.(\[(?:[^\]]|\]\])+\]|[^.[\]]+)$/;

const COLUMN = z
  .string()
  .min(1, "must not be empty")
  .max(64, "must be at most 64 characters")
  .regex(/^[^.`]+$/, "must be a column name (no dots or backquotes)");

/** One tracked table of a source. */
export const SourceTableSchema = z
  .strictObject({
    table: z
      .string()
      .max(200, "must be at most 200 characters")
      .refine(
        (table) => MYSQL_TABLE.test(table) || SQLSERVER_TABLE.test(table),
        'must be "database.table" (MySQL) or "schema.table" (SQL Server)',
      ),
    entity_type: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(255, "must be at most 255 characters"),
    id_column: COLUMN.optional().openapi({ description: "The entity id's column (default `id`)" }),
    tenant_column: COLUMN.optional().openapi({
      description: "The tenant's column: an integer (fk_customer_org) or a UUID (tenant_id)",
    }),
    columns: z
      .array(COLUMN)
      .min(1, "must not be empty")
      .max(1_000, "must list at most 1000 columns")
      .optional()
      .openapi({ description: "The columns kept in before/after (default all)" }),
  })
  .openapi("SourceTable");

/** `POST /api/sources`. */
export const SourceCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1, "must not be empty").max(255, "must be at most 255 characters"),
    kind: z.enum(SOURCE_KINDS, 'must be "mysql" or "sqlserver"'),
    url: z
      .string()
      .min(1, "must not be empty")
      .max(4_096, "must be at most 4096 characters")
      .optional()
      .openapi({
        description:
          "The connection URL (`mysql://user:password@host:3306[/database][?ssl-mode=verify-identity&ssl-ca-env=VARIABLE]`; options: `ssl-mode` disabled|required|verify-ca|verify-identity, `ssl-ca-env` the variable holding the CA certificates, under the secret rules): a secret, stored encrypted with OBSERVERS_SOURCE_KEY and never returned. Give this or url_env.",
      }),
    url_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, "must be an environment variable name")
      .optional()
      .openapi({
        description:
          "The environment variable holding the URL, under the secret rules (OBSERVERS_SECRET_* or OBSERVERS_ACTION_ENV_ALLOW; docs/security.md)",
      }),
    start: z.enum(["now", "beginning"], 'must be "now" or "beginning"').optional().openapi({
      description:
        "Where a new source starts: the source's current head (default) or its oldest retained change",
    }),
    tables: z
      .array(SourceTableSchema)
      .min(1, "must list at least one table")
      .max(100, "must list at most 100 tables"),
  })
  .superRefine((body, ctx) => {
    if ((body.url === undefined) === (body.url_env === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "give exactly one of url and url_env",
      });
    }
    if (body.url !== undefined && body.kind === "mysql") {
      const parsed = safeParseMysqlUrl(body.url);
      if (!parsed.ok) ctx.addIssue({ code: "custom", path: ["url"], message: parsed.message });
    }
    if (body.url !== undefined && body.kind === "sqlserver" && body.url.includes("://")) {
      const protocol = URL.canParse(body.url) ? new URL(body.url).protocol : null;
      if (protocol !== "mssql:" && protocol !== "sqlserver:") {
        ctx.addIssue({
          code: "custom",
          path: ["url"],
          message:
            "must be an mssql:// URL (mssql://user:password@host:1433/database) or a connection string (Server=host,1433;Database=...)",
        });
      }
    }
    const tableName = body.kind === "sqlserver" ? SQLSERVER_TABLE : MYSQL_TABLE;
    body.tables.forEach((table, index) => {
      // Either form passed the field's own check; here, the kind's.
      const eitherForm = MYSQL_TABLE.test(table.table) || SQLSERVER_TABLE.test(table.table);
      if (eitherForm && !tableName.test(table.table)) {
        ctx.addIssue({
          code: "custom",
          path: ["tables", index, "table"],
          message:
            body.kind === "sqlserver"
              ? 'must be "schema.table" as SQL Server names it (dbo.orders, [sales].[Order Lines])'
              : 'must be "database.table" (no backquotes; a name holding a dot cannot be tracked)',
        });
      }
    });
    const seen = new Set<string>();
    body.tables.forEach((table, index) => {
      if (seen.has(table.table)) {
        ctx.addIssue({
          code: "custom",
          path: ["tables", index, "table"],
          message: "is listed twice",
        });
      }
      seen.add(table.table);
    });
  })
  .openapi("SourceCreate");

const SourceErrorSchema = z
  .object({
    code: z.string().openapi({ description: "Stable (docs/sources.md lists them)" }),
    message: z.string().openapi({ description: "What is wrong and what to change" }),
    at: Timestamp.nullable(),
  })
  .openapi("SourceError");

/** A source as the API shows it: never its URL. */
export const SourceSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    name: z.string(),
    kind: z.enum(SOURCE_KINDS),
    url_env: z.string().nullable().openapi({
      description: "The variable naming the URL; null when the URL is stored encrypted",
    }),
    start: z.enum(["now", "beginning"]),
    tables: z.array(
      z.object({
        table: z.string(),
        entity_type: z.string(),
        id_column: z.string(),
        tenant_column: z.string().nullable(),
        columns: z.array(z.string()).nullable(),
      }),
    ),
    state: z
      .object({
        reading: z.boolean().openapi({ description: "A server holds the source's lease" }),
        connected: z.boolean(),
        position: z.record(z.string(), z.unknown()).nullable().openapi({
          description:
            "Where reading resumes: MySQL `{file, pos, gtid?}`, SQL Server `{lsn}`; null before the first read",
        }),
        lag_ms: z.number().int().nullable(),
        last_error: SourceErrorSchema.nullable(),
        changes_captured: z.number().int(),
        transactions_captured: z.number().int(),
        last_captured_at: Timestamp.nullable(),
      })
      .openapi("SourceState"),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Source");
