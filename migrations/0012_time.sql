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
