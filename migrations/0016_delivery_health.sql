-- Gentle with struggling receivers (docs/delivery.md): endpoint health and circuits per
-- destination, rate limits held across servers, and on_dead_letter actions.

-- One row per destination (`<type>:<origin>`, never credentials) that has failed: the circuit
-- every server on the database shares. Rows change only by compare-and-set UPDATEs, so two
-- servers never both take the probe. A healthy destination needs no row.
CREATE TABLE IF NOT EXISTS core.tb_observer_destination (
  pk_observer_destination BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  destination TEXT NOT NULL UNIQUE,
  -- closed: deliveries run; open: they wait (not charged an attempt) while one probe at a time
  -- tests the destination, from next_probe_at on.
  state TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open')),
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  -- How many times it opened (or reopened) since it last closed: the probe backoff's exponent.
  open_count INTEGER NOT NULL DEFAULT 0,
  opened_at TIMESTAMPTZ,
  next_probe_at TIMESTAMPTZ,
  probe_owner TEXT,
  probe_until TIMESTAMPTZ,
  -- The first failure of the current run of failures (NULL once it succeeds).
  failing_since TIMESTAMPTZ,
  last_error_code TEXT,
  last_http_status INTEGER,
  -- Failing for OBSERVERS_DESTINATION_DISABLE_AFTER_MS: its deliveries are held (never dropped)
  -- and no probe runs until an operator enables it again.
  disabled_at TIMESTAMPTZ,
  disabled_reason TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A delivery waiting for its destination's circuit: closing the circuit (a probe's success, an
-- operator's reset) makes these due at once instead of at the time they were put back to.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS held_destination TEXT;
CREATE INDEX IF NOT EXISTS tb_observer_delivery_held_idx
  ON core.tb_observer_delivery (held_destination) WHERE held_destination IS NOT NULL;

-- Token buckets of actions with rate_limit_per_second, shared by every server: one row per
-- (observer, action), refilled lazily when tokens are taken; on_dead_letter's actions count from
-- -1 down (-1 - index), apart from the observer's actions. granted_total counts every token
-- ever handed out (the accounting tests check).
CREATE TABLE IF NOT EXISTS core.tb_observer_rate_limit (
  pk_observer_rate_limit BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  fk_observer BIGINT NOT NULL REFERENCES core.tb_observer (pk_observer) ON DELETE CASCADE,
  action_index INTEGER NOT NULL,
  tokens DOUBLE PRECISION NOT NULL,
  refilled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_grant INTEGER NOT NULL DEFAULT 0,
  granted_total BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (fk_observer, action_index)
);

-- on_dead_letter: actions an observer runs when one of its deliveries is dead-lettered.
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS on_dead_letter JSONB;
-- A delivery of an on_dead_letter action carries the failure it reports (`dead_letter`, what its
-- event shows; action_index then indexes on_dead_letter, not actions) and the dead letter it
-- reports (`fk_dead_letter`, whose copy of the change it reads when the change log no longer has
-- it; not a foreign key, so deleting a dead letter never touches deliveries). Its own failure never
-- runs on_dead_letter again.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS dead_letter JSONB;
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS fk_dead_letter BIGINT;
ALTER TABLE core.tb_observer_delivery DROP CONSTRAINT IF EXISTS tb_observer_delivery_origin_check;
ALTER TABLE core.tb_observer_delivery ADD CONSTRAINT tb_observer_delivery_origin_check
  CHECK (fk_entity_change_log IS NOT NULL OR fk_observer_dlq IS NOT NULL
    OR fk_observer_event IS NOT NULL OR fk_dead_letter IS NOT NULL);
-- ...and kept on its own dead letter, so a replay runs the same on_dead_letter action.
ALTER TABLE core.tb_observer_dlq ADD COLUMN IF NOT EXISTS dead_letter JSONB;
