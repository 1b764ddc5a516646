// Entry for workerd (wrangler dev): answer every request with the smoke results.
import { coreSmoke } from "./core-smoke.ts";

export default {
  fetch(): Response {
    return Response.json(coreSmoke());
  },
};
