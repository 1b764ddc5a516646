export { SERVER_ENV_VARS, type ServerEnvName, type ServerEnvVar } from "./env-vars.ts";
export { parseServerConfig, type ServerConfig } from "./server-config.ts";
