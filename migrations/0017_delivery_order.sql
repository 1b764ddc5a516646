-- Delivery control (issue 20): per-entity ordering, pause/resume, replays of a time range and
-- bulk cancel (docs/delivery.md).

-- `ordering`: 'unordered' (default, fastest) or 'per_entity': the deliveries of one entity reach
-- each action in commit order. `paused_at`: set while paused: changes are matched and their
-- deliveries created, but none is claimed until resume (`enabled = false` skips changes instead).
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS ordering TEXT NOT NULL DEFAULT 'unordered';
ALTER TABLE core.tb_observer DROP CONSTRAINT IF EXISTS tb_observer_ordering_check;
ALTER TABLE core.tb_observer ADD CONSTRAINT tb_observer_ordering_check
  CHECK (ordering IN ('unordered', 'per_entity'));
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS paused_at TIMESTAMPTZ;
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS paused_by TEXT;

-- A per_entity observer's delivery carries its entity (tenant, entity type, entity id) as
-- `ordering_key` and its change's place in commit order (`ordering_txid`, then
-- fk_entity_change_log): a claim takes it only when no earlier delivery of the same observer,
-- action and key is still in the table (pending, retrying or running). Success, a dead letter or
-- a cancel removes the row, releasing the next. Unordered deliveries leave both NULL, outside the
-- index, and cost the claim nothing.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS ordering_key TEXT;
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS ordering_txid xid8;
CREATE INDEX IF NOT EXISTS tb_observer_delivery_ordering_idx
  ON core.tb_observer_delivery (fk_observer, action_index, ordering_key, ordering_txid,
    fk_entity_change_log)
  WHERE ordering_key IS NOT NULL;
-- Held: a due delivery a claim found it may not take (an earlier one of its entity is still in the
-- table, or its observer is paused) is moved out of the due range, so claims do not walk past it
-- again and again (a stuck entity or a paused observer can hold a large backlog): `held` is set and
-- `next_attempt_at` pushed a little ahead. Whatever releases it (the earlier delivery's outcome,
-- resume, a cancel) makes it due at once; if nothing does, it comes due again by itself and is
-- checked again, so a missed release only delays.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS held BOOLEAN;

-- No index by observer: every index costs each delivery a write, and pause counts and bulk
-- cancels can afford to scan (the table holds pending work only).

-- Replays: an observer's actions delivered again for the retained changes of [since, until) that
-- match its current condition. Worked through in pages, in commit order, by whichever runtime
-- holds the lease; each page's deliveries are created in the statement that moves the cursor
-- (compare-and-set), so a runtime killed mid-replay leaves a cursor another resumes from, and no
-- change is replayed twice.
CREATE TABLE IF NOT EXISTS core.tb_observer_replay (
  pk_observer_replay BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  fk_observer BIGINT NOT NULL REFERENCES core.tb_observer (pk_observer) ON DELETE CASCADE,
  fk_customer_org BIGINT,
  since TIMESTAMPTZ NOT NULL,
  until TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'done', 'cancelled', 'failed')),
  -- Changes of the range matching the observer so far, and deliveries created for them.
  matched BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL DEFAULT 0,
  -- Changes read so far, and how many the range held when the replay started.
  scanned BIGINT NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  -- The last change read, in the reader's order (transaction id, change-log id), and the last
  -- transaction of the range: the scan stops there.
  cursor_txid xid8 NOT NULL DEFAULT '0',
  cursor_id BIGINT NOT NULL DEFAULT 0,
  end_txid xid8 NOT NULL DEFAULT '0',
  error TEXT,
  lease_owner TEXT,
  lease_until TIMESTAMPTZ,
  created_by TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  CHECK (since < until)
);
CREATE INDEX IF NOT EXISTS tb_observer_replay_observer_idx
  ON core.tb_observer_replay (fk_observer, created_at DESC);
-- One running replay per observer.
CREATE UNIQUE INDEX IF NOT EXISTS tb_observer_replay_running_idx
  ON core.tb_observer_replay (fk_observer) WHERE status = 'running';
