/** The Bun factory (`fraiseql-observers/bun`) in a host application: see test/support/host-scenario.ts. */
import { hostScenario } from "../support/host-scenario.ts";

hostScenario("bun");
