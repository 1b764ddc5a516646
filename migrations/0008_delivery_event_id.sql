-- A delivery keeps its change's event id, so that a delivery whose change row is gone (deleted by
-- hand, or pruned by another producer of the shared change log) can still be logged truthfully
-- (tb_observer_log.event_id is NOT NULL) when the runtime ends it with CHANGE_MISSING.
-- Deliveries created before this migration have none; the runtime logs those under the nil UUID.
ALTER TABLE core.tb_observer_delivery ADD COLUMN IF NOT EXISTS event_id UUID;

COMMENT ON COLUMN core.tb_observer_delivery.event_id IS
  'The change''s event id (tb_entity_change_log.id), for the log row of a delivery whose change row is gone.';
