// Entry for workerd (wrangler dev): answer every request with the smoke results.
import { actionsSmoke } from "./actions-smoke.ts";
import { coreSmoke } from "./core-smoke.ts";

export default {
  async fetch(): Promise<Response> {
    return Response.json({ ...coreSmoke(), actions: await actionsSmoke() });
  },
};
