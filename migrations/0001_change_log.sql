-- The event store: one row per captured change. Compatible with FraiseQL's contract table: when
-- core.tb_entity_change_log already exists (written by FraiseQL producers), the columns this
-- system reads are added to it instead.
CREATE SCHEMA IF NOT EXISTS core;

CREATE TABLE IF NOT EXISTS core.tb_entity_change_log (
  pk_entity_change_log BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  object_type TEXT NOT NULL,
  modification_type TEXT NOT NULL,
  object_id TEXT,
  -- A Debezium envelope {op, before, after, source} (capture triggers), or an after-image
  -- (other FraiseQL producers, with the pre-image in object_data_before).
  object_data JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE core.tb_entity_change_log
  ADD COLUMN IF NOT EXISTS object_data_before JSONB,
  ADD COLUMN IF NOT EXISTS fk_customer_org BIGINT,
  ADD COLUMN IF NOT EXISTS tenant_id UUID,
  ADD COLUMN IF NOT EXISTS trace_id TEXT,
  -- The writing transaction. The reader takes a row only once every transaction that could still
  -- write below it has ended (its id is under the snapshot's xmin), so a transaction that commits
  -- after a later one is never skipped. Producers never set it: the default does.
  ADD COLUMN IF NOT EXISTS transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();

COMMENT ON COLUMN core.tb_entity_change_log.transaction_id IS
  'Writing transaction (pg_current_xact_id()); the gap-free read order is (transaction_id, pk_entity_change_log).';

CREATE INDEX IF NOT EXISTS tb_entity_change_log_read_order_idx
  ON core.tb_entity_change_log (transaction_id, pk_entity_change_log);
CREATE INDEX IF NOT EXISTS tb_entity_change_log_id_idx ON core.tb_entity_change_log (id);
CREATE INDEX IF NOT EXISTS tb_entity_change_log_created_at_idx
  ON core.tb_entity_change_log (created_at);
