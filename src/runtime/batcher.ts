/**
 * Batches (docs/delivery.md, "Batches"): the dispatcher hands its claimed deliveries of an action
 * with `batch` here instead of to the executor. They wait in a group per observer version and
 * action; a group is sent as one attempt (`executor.executeBatch`) when it holds `max_size`
 * members, or when its oldest member has waited `max_wait_ms` (a timer on the clock), or at once
 * when the dispatcher stops. Members are sent in change order (the reader's order: transaction
 * id, then change-log key), whatever order they were claimed in. Waiting members stay in the
 * dispatcher's in-flight map, so their leases are renewed like those of running attempts; before
 * a group is sent, `admit` drops the members that may no longer run (observer deleted).
 */
import type { BatchSettings } from "../actions/batch.ts";
import type { Executor } from "../executor/executor.ts";
import type { Delivery, ExecutionOutcome } from "../executor/outcome.ts";
import type { Clock } from "../ports/clock.ts";
import type { ClaimedDelivery } from "../store/claims.ts";

/** A claimed delivery waiting for its batch. */
export interface BatchMember {
  claim: ClaimedDelivery;
  delivery: Delivery;
  actionType: string | null;
}

/** The batch a member went out in: its id (`webhook-id`) and how many it carried. */
export interface SentBatch {
  id: string;
  size: number;
}

/** Options of `createBatcher`. */
export interface BatcherOptions {
  clock: Clock;
  executor: Pick<Executor, "executeBatch">;
  /**
   * The outcomes of a sent batch, one per member in the batch's order, all at once (so that they
   * are recorded together).
   */
  done(
    results: readonly { member: BatchMember; outcome: ExecutionOutcome }[],
    batch: SentBatch,
  ): void;
  /**
   * Before a group is sent: the members that may still run (members wait after their claim, and
   * their observer may have been deleted meanwhile). The caller ends the others itself; a
   * rejection sends every member.
   */
  admit?(members: BatchMember[]): Promise<BatchMember[]>;
}

/** Groups claimed deliveries into batches and sends them. */
export interface Batcher {
  /** Adds a delivery of an action with `settings`; sends its group if that fills it. */
  add(member: BatchMember, settings: BatchSettings): void;
  /** Sends every waiting group now (the dispatcher is stopping). */
  flushAll(): void;
  /** Sends now the groups with a member for which `test` holds (its tenant is at its cap). */
  flushWhere(test: (member: BatchMember) => boolean): void;
  /** Members waiting for their group to be sent. */
  readonly waiting: number;
}

interface Group {
  members: { member: BatchMember; seq: number }[];
  timer: unknown;
}

/** The reader's order of a claim's change (null parts sort last). */
function orderOf(claim: ClaimedDelivery): [bigint | null, bigint | null] {
  const change = claim.change;
  const big = (text: string | null | undefined) => {
    if (text == null) return null;
    try {
      return BigInt(text);
    } catch {
      return null;
    }
  };
  return [big(change?.transaction_id), big(change?.pk_entity_change_log)];
}

function compare(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Creates the batcher of one dispatcher. */
export function createBatcher(options: BatcherOptions): Batcher {
  const { clock, executor } = options;
  // One group per observer version and action: its members share one action object.
  const groups = new Map<string, Group>();
  let waiting = 0;
  let seq = 0;

  function send(key: string): void {
    const group = groups.get(key);
    if (!group) return;
    groups.delete(key);
    clock.clearTimeout(group.timer);
    waiting -= group.members.length;
    const ordered = group.members
      .map(({ member, seq }) => ({ member, seq, order: orderOf(member.claim) }))
      .sort(
        (a, b) =>
          compare(a.order[0], b.order[0]) || compare(a.order[1], b.order[1]) || a.seq - b.seq,
      )
      .map(({ member }) => member);
    if (options.admit) {
      void options
        .admit(ordered)
        .catch(() => ordered)
        .then(execute);
    } else execute(ordered);
  }

  function execute(members: BatchMember[]): void {
    if (members.length === 0) return;
    void executor.executeBatch(members.map((m) => m.delivery)).then(({ id, outcomes }) => {
      const results = members.flatMap((member, i) => {
        const outcome = outcomes[i];
        return outcome ? [{ member, outcome }] : [];
      });
      options.done(results, { id, size: members.length });
    });
  }

  return {
    add(member, settings) {
      const claim = member.claim;
      const key = `${claim.fk_observer}@${claim.observer_version}#${claim.action_index}`;
      let group = groups.get(key);
      if (!group) {
        const created: Group = { members: [], timer: null };
        created.timer = clock.setTimeout(() => send(key), settings.maxWaitMs);
        groups.set(key, created);
        group = created;
      }
      group.members.push({ member, seq: seq++ });
      waiting++;
      if (group.members.length >= settings.maxSize) send(key);
    },
    flushAll() {
      for (const key of [...groups.keys()]) send(key);
    },
    flushWhere(test) {
      for (const [key, group] of [...groups]) {
        if (group.members.some(({ member }) => test(member))) send(key);
      }
    },
    get waiting() {
      return waiting;
    },
  };
}
