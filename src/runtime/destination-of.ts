import { withoutTiming } from "../actions/timing.ts";
import type { ActionEnvironment, ActionRegistry } from "../actions/types.ts";
import { safeParseConfig } from "../validation.ts";

/**
 * The destination of a stored action config, as the executor's per-destination limit keys it
 * (`ActionDefinition.destination`), or null (no destination, an unknown type, an invalid config:
 * the executor fails those on its own). Cached by config object: the dispatcher's parsed configs
 * are shared per observer version.
 */
export function createDestinationReader(
  registry: Pick<ActionRegistry, "get">,
  environment: ActionEnvironment,
): (action: unknown) => string | null {
  const known = new WeakMap<object, string | null>();
  return (action) => {
    if (typeof action !== "object" || action === null) return null;
    const cached = known.get(action);
    if (cached !== undefined) return cached;
    let destination: string | null = null;
    const type = (action as { type?: unknown }).type;
    const definition = typeof type === "string" ? registry.get(type) : undefined;
    if (definition) {
      const config = safeParseConfig(definition.schema, withoutTiming(action), "action");
      if (config.success) destination = definition.destination(config.output, environment);
    }
    known.set(action, destination);
    return destination;
  };
}
