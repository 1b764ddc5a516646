/**
 * The ready servers listen before the observers have started; a request in between waits for the
 * start instead of answering 503 NOT_RUNNING (the fault suite's replacement server saw that 503).
 */
import { describe, expect, it } from "vitest";
import { heldUntilStarted } from "../../adapters/hosts/server/held-until-started.ts";

describe("heldUntilStarted", () => {
  it("holds requests until released, then passes them on with their arguments", async () => {
    const seen: string[] = [];
    const held = heldUntilStarted(async (request: Request, tag: string) => {
      seen.push(`${new URL(request.url).pathname} ${tag}`);
      return new Response("ok");
    });
    const early = held.fetch(new Request("http://x/early"), "a");
    let answered = false;
    void early.then(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answered).toBe(false);
    expect(seen).toEqual([]);

    held.release();
    expect(await (await early).text()).toBe("ok");
    expect(await (await held.fetch(new Request("http://x/late"), "b")).text()).toBe("ok");
    expect(seen).toEqual(["/early a", "/late b"]);
  });
});
