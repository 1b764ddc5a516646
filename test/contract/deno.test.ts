import { contractSuite } from "./suite.ts";
import { startDenoTarget } from "./targets/deno.ts";

contractSuite("Deno", startDenoTarget);
