/** The Deno factory (`fraiseql-observers/deno`) in a host application: see test/support/host-scenario.ts. */
import { hostScenario } from "../support/host-scenario.ts";

hostScenario("deno");
