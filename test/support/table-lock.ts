import { createPostgresClient } from "../../adapters/drivers/postgres/postgres-client.ts";

/**
 * Holds `LOCK TABLE table IN mode` in the database at `url` from its own connection, resolving once
 * the lock is held, to an `unlock` that ends the transaction and closes the connection (safe to
 * call twice). ACCESS EXCLUSIVE stops reads, but takes a transaction id (it is logged for
 * standbys), which holds back the runtime's gap-free reading; SHARE stops only writes and takes
 * none.
 */
export async function lockTable(
  url: string,
  table: string,
  mode: "ACCESS EXCLUSIVE" | "SHARE",
): Promise<() => Promise<void>> {
  const locker = createPostgresClient(url, { max: 1 });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const holding = locker.transaction(async (tx) => {
    await tx.query(`LOCK TABLE ${table} IN ${mode} MODE`);
    locked();
    await released;
  });
  await Promise.race([isLocked, holding]);
  let unlocking: Promise<void> | undefined;
  return () => {
    unlocking ??= (async () => {
      release();
      await holding;
      await locker.close();
    })();
    return unlocking;
  };
}
