/** `pause <id|name>` and `resume <id|name>`: hold an observer's deliveries, then release them. */
import { type Command, type CommandContext, UsageError } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { observerIdOf } from "./observers-io.ts";
import { json, line } from "./output.ts";

interface PausedObserver {
  id: string;
  name: string;
  paused: boolean;
  paused_at: string | null;
}

async function toggle(context: CommandContext, pause: boolean): Promise<number> {
  const [target, extra] = context.args;
  const name = pause ? "pause" : "resume";
  if (target === undefined || extra !== undefined) {
    throw new UsageError(`${name} takes one observer: its id or name`);
  }
  const client = context.client();
  const id = await observerIdOf(client, target, name);
  const observer = await client.call<PausedObserver>(
    "POST",
    `/api/observers/${encodeURIComponent(id)}/${name}`,
  );
  if (context.format === "json") json(observer);
  else if (observer.paused) {
    line(`${observer.name} (${observer.id}) paused since ${observer.paused_at}: deliveries held`);
  } else line(`${observer.name} (${observer.id}) resumed: held deliveries go out in order`);
  return EXIT.ok;
}

export const pause: Command = {
  name: "pause",
  summary: "hold an observer's deliveries (changes still matched) until resume",
  help: "pause <observer id|name>",
  run: (context) => toggle(context, true),
};

export const resume: Command = {
  name: "resume",
  summary: "deliver what a paused observer held, in order",
  help: "resume <observer id|name>",
  run: (context) => toggle(context, false),
};
