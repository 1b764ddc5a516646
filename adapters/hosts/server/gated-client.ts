import { HttpProblem } from "../../../src/api/problem.ts";
import type { ListenHandlers, SqlClient, SqlListener } from "../../../src/ports/sql.ts";

/**
 * A SQL client that exists before its connections: `createObservers` returns the API at once, but
 * the database opens in `start()` (embedded PGlite opens asynchronously, and nothing should reach
 * tables before the migrations ran). Until `open` and after `shut`, every statement fails with a
 * 503 problem, which the API answers as such (a request before `start()` or during `stop()`).
 */
export interface GatedClient extends SqlClient {
  /** From now on, statements run on `client`. */
  open(client: SqlClient): void;
  /** From now on, statements fail again (503 `NOT_RUNNING`). */
  shut(): void;
}

export function createGatedClient(): GatedClient {
  let current: SqlClient | null = null;
  let state: "before" | "open" | "shut" = "before";
  const target = (): SqlClient => {
    if (current && state === "open") return current;
    throw new HttpProblem(
      503,
      "NOT_RUNNING",
      state === "before"
        ? "the observers have not started yet: the host calls start() first"
        : "the observers are stopping",
    );
  };
  return {
    open(client) {
      current = client;
      state = "open";
    },
    shut() {
      state = "shut";
    },
    query: (text, params) => target().query(text, params),
    transaction: (fn) => target().transaction(fn),
    listen(channel: string, handlers: ListenHandlers): Promise<SqlListener> {
      const client = target();
      if (!client.listen) return Promise.reject(new Error("this SQL client cannot LISTEN"));
      return client.listen(channel, handlers);
    },
    // The connections behind it belong to whoever opened them (see server-observers.ts).
    close: async () => {},
  };
}
