import type { PayloadMode } from "./messages.ts";

/*
 * Routing by topic: a subscription's filters become one change topic and one execution topic at
 * subscribe time, and each message is published to every topic that selects it (a field's value
 * or "*" for each filter), so nothing is evaluated per subscriber per message.
 */

const ANY = "*";
const part = (value: string | null | undefined) =>
  value == null ? ANY : encodeURIComponent(value);

/** What selects a message: each field null for "any". */
export interface TopicFilter {
  tenant: string | null;
  entityType: string | null;
  eventType: string | null;
  observerId: string | null;
}

/** The change topic of a subscription. */
export function changeTopic(filter: TopicFilter, mode: PayloadMode): string {
  return `c:${mode}:${part(filter.tenant)}:${part(filter.entityType)}:${part(filter.eventType)}`;
}

/** The execution topic of a subscription. */
export function executionTopic(filter: TopicFilter): string {
  return `x:${part(filter.tenant)}:${part(filter.entityType)}:${part(filter.eventType)}:${part(filter.observerId)}`;
}

function choices(value: string | null): (string | null)[] {
  return value === null ? [null] : [value, null];
}

/** Every change topic (of one payload mode) a change with these fields is published to. */
export function changeTopicsOf(
  fields: { tenant: string | null; entityType: string; eventType: string },
  mode: PayloadMode,
): string[] {
  const topics: string[] = [];
  for (const tenant of choices(fields.tenant))
    for (const entityType of choices(fields.entityType))
      for (const eventType of choices(fields.eventType))
        topics.push(changeTopic({ tenant, entityType, eventType, observerId: null }, mode));
  return topics;
}

/** Every execution topic an execution with these fields is published to. */
export function executionTopicsOf(fields: TopicFilter): string[] {
  const topics: string[] = [];
  for (const tenant of choices(fields.tenant))
    for (const entityType of choices(fields.entityType))
      for (const eventType of choices(fields.eventType))
        for (const observerId of choices(fields.observerId))
          topics.push(executionTopic({ tenant, entityType, eventType, observerId }));
  return topics;
}
