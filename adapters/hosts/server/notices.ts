/** What the server tells the person who started it. */

const RULE = "=".repeat(72);

/** The generated admin token, in a block that stands out in a log. Shown once, ever. */
export function bootstrapTokenNotice(token: string): string {
  return [
    RULE,
    "  ADMIN TOKEN, generated because OBSERVERS_ADMIN_TOKEN is unset.",
    "  It is shown this once and stored only as a hash: copy it now.",
    "",
    `      ${token}`,
    "",
    "  Send it as `Authorization: Bearer <token>`. For the README's examples, in your shell:",
    "",
    `      export OBSERVERS_TOKEN=${token}`,
    "",
    "  To choose your own instead, set OBSERVERS_ADMIN_TOKEN (at least 16 characters).",
    RULE,
  ].join("\n");
}

/**
 * Why a PostgreSQL-mode server without OBSERVERS_ADMIN_TOKEN and without an admin key refuses to
 * start, and the two ways out. A generated token is not printed there: stdout goes to log stores.
 */
export function missingAdminMessage(): string {
  return (
    "is unset and the database has no admin API key, so nobody could administer this server. " +
    "Set OBSERVERS_ADMIN_TOKEN (at least 16 characters), or create an admin key once with " +
    "`DATABASE_URL=... npm run create-key -- --name ops --scope admin` (it prints the token to " +
    "your terminal only) and start again. A token is generated and printed only in embedded " +
    "mode (DATABASE_URL unset): in PostgreSQL mode, standard output often ends up in log stores."
  );
}

/** PostgreSQL-mode starts without OBSERVERS_ADMIN_TOKEN: the stored admin keys authenticate. */
export function storedKeysNotice(): string {
  return (
    "OBSERVERS_ADMIN_TOKEN is unset: admin API keys stored in the database (created with " +
    "`npm run create-key`, or a bootstrap token printed earlier) administer this server."
  );
}

/** Later starts without OBSERVERS_ADMIN_TOKEN: the stored token still works, and what if it is lost. */
export function earlierTokenNotice(): string {
  return (
    "OBSERVERS_ADMIN_TOKEN is unset: the admin token generated and printed at the first start " +
    "(stored as the API key `bootstrap-admin`) is in use. Lost it? Set OBSERVERS_ADMIN_TOKEN " +
    "(at least 16 characters) and restart, then create API keys with it."
  );
}

/** Where a person on this machine reaches a server bound to `host`. */
export function localUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" || host === "" ? "localhost" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

/** The guide printed in embedded mode: where the data is, how to use it, and its limits. */
export function embeddedNotice(options: {
  dataDir: string;
  socketUrl: string | null;
  apiUrl: string;
  /** The token as the sample should show it (the token itself, or a shell variable). */
  token: string;
}): string {
  const observer = JSON.stringify({
    name: "order-created",
    entity_type: "Order",
    event_type: "INSERT",
    actions: [{ type: "webhook", url: "https://example.com/hook" }],
  });
  // pglite-socket speaks no TLS; psql's default (prefer) would still try it first.
  const psql = options.socketUrl
    ? [`  Connect psql or your application:  psql "${options.socketUrl}?sslmode=disable"`]
    : [
        "  The local socket is off (OBSERVERS_EMBEDDED_PORT=0): only this process can reach the data.",
      ];
  return [
    "",
    `Running on embedded PostgreSQL (PGlite) in ${options.dataDir}: DATABASE_URL is unset.`,
    ...psql,
    "",
    "Next:",
    "  1. Track a table (capture triggers; run in psql):",
    "       SELECT core.fn_track_table('public.orders', 'Order');",
    "  2. Create an observer:",
    `       curl -X POST ${options.apiUrl}/api/observers \\`,
    `         -H "Authorization: Bearer ${options.token}" -H "Content-Type: application/json" \\`,
    `         -d '${observer}'`,
    "  3. Insert a row into public.orders: the webhook fires.",
    "",
    "Limits of embedded mode (for trying things and development, not production throughput):",
    "  - one server process owns the data directory;",
    "  - the socket takes one client at a time (give connection pools max 1), local only, no TLS;",
    "  - that client shares PGlite's single session with the runtime: an open transaction in",
    "    psql (BEGIN) pauses delivery until COMMIT or ROLLBACK.",
    "Set DATABASE_URL to a PostgreSQL server for production.",
    "",
  ].join("\n");
}
