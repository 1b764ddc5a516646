/**
 * The peer pipeline's worker, in its own process, on Node (graphile-worker is a Node library, what
 * its documentation runs it on) or on Bun (what ours runs on; it runs there unchanged): graphile-worker's `run()` with one task, `post_webhook`,
 * which POSTs the job's payload (the row, as the trigger built it) as JSON to the receiver with
 * `fetch` and fails the job on a non-2xx answer (graphile-worker then retries it later).
 *
 * argv: the database URL, the receiver's URL, the settings (JSON, `WorkerSettings`). Answers one
 * line per command on stdin: `migrate` (installs the graphile_worker schema), `start` (a fresh
 * runner), `stop` (its graceful stop), `errors` (failed attempts so far). Ends on stdin's end.
 */
import { createInterface } from "node:readline";
import { Logger, type Runner, type RunnerOptions, run, runMigrations } from "graphile-worker";
import type { WorkerSettings } from "./graphile.ts";

const [url = "", hookUrl = "", settingsJson = "{}"] = process.argv.slice(2);
const settings = JSON.parse(settingsJson) as WorkerSettings;

// Only warnings and errors: graphile-worker logs every completed job at info, which would cost the
// worker a console write per job (the runtime it is compared with logs nothing either).
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning")
    console.error(`graphile-worker ${level}: ${message}`);
});

const options: RunnerOptions = {
  noHandleSignals: true,
  taskList: {
    post_webhook: async (payload) => {
      const response = await fetch(hookUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
    },
  },
  preset: {
    worker: {
      connectionString: url,
      logger,
      concurrentJobs: settings.concurrentJobs,
      maxPoolSize: settings.maxPoolSize,
      pollInterval: settings.pollInterval,
      ...(settings.localQueueSize > 1 ? { localQueue: { size: settings.localQueueSize } } : {}),
      completeJobBatchDelay: settings.completeJobBatchDelay,
      failJobBatchDelay: settings.failJobBatchDelay,
    },
  },
};

let runner: Runner | undefined;
let errors = 0;

async function command(line: string): Promise<string> {
  switch (line) {
    case "migrate":
      await runMigrations(options);
      return "ok";
    case "start":
      runner = await run(options);
      runner.events.on("job:error", () => errors++);
      return "ok";
    case "stop":
      await runner?.stop();
      runner = undefined;
      return "ok";
    case "errors":
      return String(errors);
    default:
      throw new Error(`unknown command ${line}`);
  }
}

// One command at a time, in order.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  queue = queue.then(async () => {
    process.stdout.write(`${await command(line.trim())}\n`);
  });
});
lines.on("close", () => {
  queue
    .then(() => runner?.stop())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
});
