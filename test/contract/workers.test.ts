import { contractSuite } from "./suite.ts";
import { startWorkersTarget } from "./targets/workers.ts";

contractSuite("Workers", startWorkersTarget);
