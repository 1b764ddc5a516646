/**
 * Failed checks. A benchmark checks its inputs before timing anything; a failed check (or a bad
 * setting) stops the run with a message and a non-zero exit code rather than timing nothing.
 */

/** A failed check: thrown by `fail`, reported by `runBenchmark`. */
export class BenchFailure extends Error {}

/** Stops the benchmark: `runBenchmark` prints the message and exits with code 1. */
export function fail(message: string): never {
  throw new BenchFailure(message);
}

/**
 * Runs a benchmark's main function. A `fail()` inside it prints `bench/<name>: <message>` to stderr
 * and exits with code 1; any other error propagates unchanged.
 */
export async function runBenchmark(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (!(error instanceof BenchFailure)) throw error;
    console.error(`bench/${name}: ${error.message}`);
    process.exit(1);
  }
}
