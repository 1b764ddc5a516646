import * as v from "valibot";
import { expectSuccess, sendHttp } from "../net/http.ts";
import { renderTemplate, type TemplateContext } from "../templates/index.ts";
import { envName, httpUrl, nonEmptyString, secret, template } from "./fields.ts";
import {
  forgetAccessToken,
  getAccessToken,
  parseServiceAccount,
  type ServiceAccount,
} from "./push-fcm-token.ts";
import { requireSecret, type SecretScope } from "./secrets.ts";
import { ActionFailure, type ActionRequest, type ActionResult } from "./types.ts";

/** Where FCM HTTP v1 lives; `base_url` overrides it (an emulator, a proxy, tests). */
export const FCM_BASE_URL = "https://fcm.googleapis.com";
/** FCM's topic-name alphabet. */
const TOPIC = /^[a-zA-Z0-9\-_.~%]{1,900}$/;
/** Data keys FCM rejects (https://firebase.google.com/docs/cloud-messaging/concept-options). */
const RESERVED_DATA_KEY = /^(from|notification|message_type|google\..*|gcm\..*)$/;

/** `{type: "push", provider: "fcm", ...}`: a message through Firebase Cloud Messaging HTTP v1. */
export const fcmConfigSchema = v.strictObject({
  type: v.literal("push"),
  provider: v.literal("fcm"),
  /** Defaults to the service account's `project_id`. */
  project_id: v.optional(nonEmptyString),
  /** The service-account key file's JSON. */
  service_account: v.optional(secret),
  service_account_env: v.optional(envName),
  device_token: v.optional(nonEmptyString),
  device_token_template: v.optional(template("text")),
  topic: v.optional(v.pipe(v.string(), v.regex(TOPIC, "must be an FCM topic name"))),
  title_template: v.optional(template("text")),
  body_template: v.optional(template("text")),
  /** FCM data payload: string values, each a text template. */
  data: v.optional(v.record(v.string(), template("text"))),
  base_url: v.optional(httpUrl, FCM_BASE_URL),
});
export type FcmConfig = v.InferOutput<typeof fcmConfigSchema>;

/** Rules across fields that the object schema cannot express, each naming the field to fix. */
export function fcmConfigIssues(config: FcmConfig): { key: string; message: string }[] {
  const issues: { key: string; message: string }[] = [];
  if ((config.service_account === undefined) === (config.service_account_env === undefined)) {
    issues.push({
      key: "service_account",
      message: "give exactly one of service_account and service_account_env",
    });
  } else if (config.service_account !== undefined) {
    const account = parseServiceAccount(config.service_account);
    if (typeof account === "string") {
      issues.push({ key: "service_account", message: `service account ${account}` });
    } else if (config.project_id === undefined && account.project_id === undefined) {
      issues.push({ key: "project_id", message: "is required: the service account has none" });
    }
  }
  const targets = [config.device_token, config.device_token_template, config.topic];
  if (targets.filter((target) => target !== undefined).length !== 1) {
    issues.push({
      key: "device_token",
      message: "give exactly one of device_token, device_token_template and topic",
    });
  }
  if (
    config.title_template === undefined &&
    config.body_template === undefined &&
    config.data === undefined
  ) {
    issues.push({ key: "title_template", message: "give title_template, body_template or data" });
  }
  for (const key of Object.keys(config.data ?? {})) {
    if (RESERVED_DATA_KEY.test(key)) {
      issues.push({ key: "data", message: `data key ${JSON.stringify(key)} is reserved by FCM` });
    }
  }
  return issues;
}

/** All FCM sends share one host, so they share one concurrency limit. */
export function fcmDestination(config: FcmConfig): string {
  return `push:${new URL(config.base_url).origin}`;
}

/** Sends one FCM message; a 401 drops the cached token so the retry authenticates afresh. */
export async function runFcm(request: ActionRequest<FcmConfig>): Promise<ActionResult> {
  const { config, environment, signal } = request;
  const account = serviceAccount(config, request);
  const project = config.project_id ?? account.project_id;
  if (project === undefined) {
    throw new ActionFailure(
      "permanent",
      "INVALID_SERVICE_ACCOUNT",
      "FCM: project_id is not set and the service account has none",
    );
  }
  const body = JSON.stringify({ message: buildMessage(request) });
  const token = await getAccessToken(account, environment, signal);
  const url = `${config.base_url.replace(/\/+$/, "")}/v1/projects/${encodeURIComponent(project)}/messages:send`;
  const response = await sendHttp(
    {
      url,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    },
    environment,
    signal,
  );
  const details = { httpStatus: response.status, responseExcerpt: response.body };
  if (response.status === 401) {
    forgetAccessToken(account);
    throw new ActionFailure(
      "transient",
      "HTTP_STATUS",
      "FCM rejected the access token (HTTP 401); the next attempt fetches a new one",
      details,
    );
  }
  if (response.status >= 400 && fcmErrorCode(response.body) === "UNREGISTERED") {
    throw new ActionFailure(
      "permanent",
      "SUBSCRIPTION_GONE",
      `FCM: the device token is no longer registered (HTTP ${response.status})`,
      details,
    );
  }
  return expectSuccess(response, environment);
}

function serviceAccount(config: FcmConfig, scope: SecretScope): ServiceAccount {
  const json = requireSecret(
    config.service_account,
    config.service_account_env,
    scope,
    "FCM service_account",
  );
  const account = parseServiceAccount(json);
  if (typeof account === "string") {
    const where = config.service_account_env ?? "service_account";
    throw new ActionFailure("permanent", "INVALID_SERVICE_ACCOUNT", `FCM ${where}: ${account}`);
  }
  return account;
}

function buildMessage(request: ActionRequest<FcmConfig>): Record<string, unknown> {
  const { config } = request;
  const context: TemplateContext = {
    event: request.event,
    observer: request.observer,
    deliveryId: request.deliveryId,
    attempt: request.attempt,
  };
  const render = (source: string) => renderTemplate(source, "text", context);
  const message: Record<string, unknown> = {};
  if (config.topic !== undefined) {
    message.topic = config.topic;
  } else {
    const token = config.device_token ?? render(config.device_token_template ?? "").trim();
    if (token === "") {
      throw new ActionFailure(
        "permanent",
        "MISSING_DEVICE_TOKEN",
        "FCM: device_token_template rendered an empty device token",
      );
    }
    message.token = token;
  }
  if (config.title_template !== undefined || config.body_template !== undefined) {
    const notification: Record<string, string> = {};
    if (config.title_template !== undefined) notification.title = render(config.title_template);
    if (config.body_template !== undefined) notification.body = render(config.body_template);
    message.notification = notification;
  }
  if (config.data !== undefined) {
    message.data = Object.fromEntries(
      Object.entries(config.data).map(([key, source]) => [key, render(source)]),
    );
  }
  return message;
}

/** FCM's `errorCode` from an error body (`error.details[].errorCode`), else `error.status`. */
function fcmErrorCode(text: string): string | undefined {
  try {
    const error = (JSON.parse(text) as { error?: { status?: unknown; details?: unknown } }).error;
    if (Array.isArray(error?.details)) {
      for (const detail of error.details as { errorCode?: unknown }[]) {
        if (typeof detail?.errorCode === "string") return detail.errorCode;
      }
    }
    return typeof error?.status === "string" ? error.status : undefined;
  } catch {
    return undefined;
  }
}
