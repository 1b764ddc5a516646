// Until the Workers factory lands (issue 16): a Worker importing today's `./workers` entry and
// the core from node_modules, so the bundling of the installed package for workerd is checked
// now. worker-host.ts replaces it once `createObservers` is exported; then delete this file.
import { parseCondition } from "fraiseql-observers";
import { workersConfig } from "fraiseql-observers/workers";

export default {
  fetch(_request, env) {
    return Response.json({
      parsed: parseCondition("a == 1").success,
      config: typeof workersConfig(env),
    });
  },
};
