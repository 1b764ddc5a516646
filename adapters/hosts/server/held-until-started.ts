/**
 * The ready servers bind their port before the observers start (so a port in use fails at once and
 * the embedded notice can print the real URL), but a request that arrives in between must not get
 * the plugin's 503 `NOT_RUNNING`: to a client, a server that listens is a server that is up. Such
 * requests wait until `release()` (start finished, or failed and the server is closing).
 */
export function heldUntilStarted<Rest extends unknown[]>(
  handler: (request: Request, ...rest: Rest) => Promise<Response>,
): { fetch(request: Request, ...rest: Rest): Promise<Response>; release(): void } {
  let release!: () => void;
  const started = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    async fetch(request, ...rest) {
      await started;
      return handler(request, ...rest);
    },
    release,
  };
}
