import { contractSuite } from "./suite.ts";
import { startBunTarget } from "./targets/bun.ts";

contractSuite("Bun", startBunTarget);
