import * as v from "valibot";
import {
  FCM_BASE_URL,
  type FcmConfig,
  fcmConfigIssues,
  fcmConfigSchema,
  fcmDestination,
  runFcm,
} from "./push-fcm.ts";
import {
  runWebPush,
  type WebPushConfig,
  webPushConfigIssues,
  webPushConfigSchema,
  webPushDestination,
} from "./push-web.ts";
import type { ActionDefinition } from "./types.ts";

/** A push action's config: `provider` picks FCM HTTP v1 or standard Web Push. */
export type PushConfig = FcmConfig | WebPushConfig;

/** Validates a push config; cross-field issues point at the field to fix. */
export const pushConfigSchema = v.pipe(
  v.variant("provider", [fcmConfigSchema, webPushConfigSchema], 'must be "fcm" or "web_push"'),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const config = dataset.value;
    const issues =
      config.provider === "fcm" ? fcmConfigIssues(config) : webPushConfigIssues(config);
    for (const { key, message } of issues) {
      const input = config as Record<string, unknown>;
      addIssue({
        message,
        path: [{ type: "object", origin: "value", input, key, value: input[key] }],
      });
    }
  }),
);

/** `push`: a notification through Firebase Cloud Messaging or Web Push (VAPID, aes128gcm). */
export const pushAction: ActionDefinition<PushConfig> = {
  type: "push",
  schema: pushConfigSchema,
  destination: (config) =>
    config.provider === "fcm" ? fcmDestination(config) : webPushDestination(config),
  // Web Push has no base_url: its VAPID key signs a token, and is never sent.
  defaultBaseUrl: (config) => (config.provider === "fcm" ? FCM_BASE_URL : undefined),
  run: (request) => {
    const { config } = request;
    return config.provider === "fcm"
      ? runFcm({ ...request, config })
      : runWebPush({ ...request, config });
  },
};
