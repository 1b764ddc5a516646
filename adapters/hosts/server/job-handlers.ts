/**
 * `OBSERVERS_JOB_HANDLERS`: how the ready servers (`npm run server`, `npm run server:deno`), which
 * have no code of yours, run builtin jobs. The variable names a module (a path, relative to the
 * working directory, or a `file:` URL); its `register(jobs)` export, or its default export, is
 * called with the observers' `jobs` before they start (docs/jobs.md).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../../../src/errors.ts";
import type { Jobs } from "../../../src/jobs/runner.ts";

const VARIABLE = "OBSERVERS_JOB_HANDLERS";

/** Imports the module and lets it register its handlers; a module that cannot is a ConfigError. */
export async function loadJobHandlers(specifier: string, jobs: Jobs): Promise<void> {
  const url = /^file:/i.test(specifier) ? specifier : pathToFileURL(resolve(specifier)).href;
  let module: { register?: unknown; default?: unknown };
  try {
    module = await import(url);
  } catch (error) {
    throw new ConfigError(
      [
        {
          path: VARIABLE,
          message: `could not import ${specifier}: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
      { cause: error },
    );
  }
  const register = typeof module.register === "function" ? module.register : module.default;
  if (typeof register !== "function") {
    throw new ConfigError([
      {
        path: VARIABLE,
        message: `${specifier} exports neither register(jobs) nor a default function`,
      },
    ]);
  }
  await register(jobs);
}
