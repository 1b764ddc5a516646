-- Live notifications (WS /api/observers/ws) tail the delivery log the way the runtime reads the
-- change log: in (transaction_id, pk) order, below the oldest running transaction, so a log row
-- that commits after a later one is still sent, and a resumed subscriber misses nothing.
-- Rows written before this migration have no transaction id and are not replayed.
ALTER TABLE core.tb_observer_log ADD COLUMN IF NOT EXISTS transaction_id xid8;
ALTER TABLE core.tb_observer_log ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();

COMMENT ON COLUMN core.tb_observer_log.transaction_id IS
  'Writing transaction (pg_current_xact_id()); live notifications read in (transaction_id, pk_observer_log) order.';

CREATE INDEX IF NOT EXISTS tb_observer_log_live_order_idx
  ON core.tb_observer_log (transaction_id, pk_observer_log);
