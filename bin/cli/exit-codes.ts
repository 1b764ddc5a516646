/**
 * The CLI's exit codes (docs/cli.md): what a script can branch on.
 * - 0: done, nothing wrong.
 * - 1: the operation failed or found something wrong (an invalid file, a 4xx other than auth, a
 *   dead letter that could not be re-queued, an unhealthy runtime).
 * - 2: usage error (unknown command or option, missing argument, unreadable file name).
 * - 3: the server could not be reached, or refused the token (401/403).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** An error that ends the command with `code` and prints `message` on stderr. */
export class CliError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "CliError";
    this.code = code;
  }
}
