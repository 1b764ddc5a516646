// Entry for Node, Bun and Deno: print the smoke results as one JSON line.
import { actionsSmoke } from "./actions-smoke.ts";
import { coreSmoke } from "./core-smoke.ts";

console.log(JSON.stringify({ ...coreSmoke(), actions: await actionsSmoke() }));
