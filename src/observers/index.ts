export {
  DEFAULT_PRIORITY,
  DEFAULT_TIMEOUT_MS,
  MAX_OBSERVER_NAME_LENGTH,
  MAX_TIMEOUT_MS,
  type ObserverDefinition,
  observerDefinitionSchema,
} from "./schema.ts";
