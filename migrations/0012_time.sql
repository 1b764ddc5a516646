-- Time, for every action (docs/time.md). A debounced action keeps at most one pending delivery
-- per (observer, action, key): a change finding one replaces its change and pushes it back a
-- window, never past debounce_until (the first change's time plus max_wait_ms). The key is set
-- only while the delivery waits: claiming it clears the key, so a change arriving while it runs
-- starts a new one. Deliveries without debounce leave both columns NULL, outside the index.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS debounce_key TEXT;
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS debounce_until TIMESTAMPTZ;

CREATE UNIQUE INDEX IF NOT EXISTS tb_observer_delivery_debounce_idx
  ON core.tb_observer_delivery (fk_observer, action_index, debounce_key)
  WHERE debounce_key IS NOT NULL;

COMMENT ON COLUMN core.tb_observer_delivery.debounce_key IS
  'The rendered debounce key (tenant-prefixed) while a debounced delivery waits; NULL otherwise.';
COMMENT ON COLUMN core.tb_observer_delivery.debounce_until IS
  'The latest a debounced delivery may be pushed back to (first change + max_wait_ms).';

-- Scheduled observers: event_type SCHEDULE with a cron schedule and an optional IANA time zone.
ALTER TABLE core.tb_observer DROP CONSTRAINT IF EXISTS tb_observer_event_type_check;
ALTER TABLE core.tb_observer ADD CONSTRAINT tb_observer_event_type_check
  CHECK (event_type IN ('INSERT', 'UPDATE', 'DELETE', 'CUSTOM', 'SCHEDULE'));
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS schedule TEXT;
ALTER TABLE core.tb_observer ADD COLUMN IF NOT EXISTS timezone TEXT;
ALTER TABLE core.tb_observer DROP CONSTRAINT IF EXISTS tb_observer_schedule_check;
-- A schedule only on a SCHEDULE observer, and every SCHEDULE observer has one.
ALTER TABLE core.tb_observer ADD CONSTRAINT tb_observer_schedule_check
  CHECK ((schedule IS NULL OR event_type = 'SCHEDULE')
    AND (event_type IS DISTINCT FROM 'SCHEDULE' OR schedule IS NOT NULL));

-- When each scheduled observer fires next: the runtimes' shared clock. Kept apart from
-- tb_observer so that a tick neither bumps the observer revision (every runtime would reload)
-- nor changes the observer's updated_at. A tick is claimed by moving next_run_at from the value
-- read (compare-and-set) in the statement that creates its event and deliveries; the row is
-- recreated when the observer's schedule or time zone changes.
CREATE TABLE IF NOT EXISTS core.tb_observer_schedule (
  fk_observer BIGINT PRIMARY KEY REFERENCES core.tb_observer (pk_observer) ON DELETE CASCADE,
  schedule TEXT NOT NULL,
  timezone TEXT,
  next_run_at TIMESTAMPTZ NOT NULL,
  last_run_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Scheduled events: a scheduled observer's ticks (kind 'schedule', one per observer and instant)
-- and one-off events posted to POST /api/observers/{id}/schedule (kind 'one_off', with a payload).
-- Their deliveries point here instead of at a change-log row: the shared change log holds only
-- changes.
CREATE TABLE IF NOT EXISTS core.tb_observer_event (
  pk_observer_event BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  fk_observer BIGINT NOT NULL REFERENCES core.tb_observer (pk_observer) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('schedule', 'one_off')),
  scheduled_at TIMESTAMPTZ NOT NULL,
  payload JSONB,
  fk_customer_org BIGINT,
  created_by TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS tb_observer_event_tick_idx
  ON core.tb_observer_event (fk_observer, scheduled_at) WHERE kind = 'schedule';
CREATE INDEX IF NOT EXISTS tb_observer_event_created_at_idx ON core.tb_observer_event (created_at);

-- A delivery of a scheduled event. Not a foreign key: the check would cost every change's
-- delivery insert a trigger; a delivery whose event is gone ends like one whose change is gone.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS fk_observer_event BIGINT;
ALTER TABLE core.tb_observer_delivery DROP CONSTRAINT IF EXISTS tb_observer_delivery_check;
ALTER TABLE core.tb_observer_delivery DROP CONSTRAINT IF EXISTS tb_observer_delivery_origin_check;
ALTER TABLE core.tb_observer_delivery ADD CONSTRAINT tb_observer_delivery_origin_check
  CHECK (fk_entity_change_log IS NOT NULL OR fk_observer_dlq IS NOT NULL
    OR fk_observer_event IS NOT NULL);
