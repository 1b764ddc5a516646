-- NATS JetStream mode (OBSERVERS_TRANSPORT=nats): what bridges and workers share in PostgreSQL.

-- The bridge lease: one row per stream; the bridge holding an unexpired lease is the only one
-- publishing. It renews the lease on every loop; a bridge killed (kill -9, lost network) stops
-- renewing and another takes over once `expires_at` passes. A row, not an advisory lock, so it
-- survives connection poolers (no session state) and needs no dedicated connection.
CREATE TABLE IF NOT EXISTS core.tb_nats_bridge_lease (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  renewed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Changes workers have matched, by event id: a redelivered message whose change is here creates
-- no delivery again (the deliveries it created are in tb_observer_delivery, or done). Written in
-- the statement that creates the deliveries, so a change is matched exactly once. Kept for the
-- change-log retention (OBSERVERS_CHANGE_LOG_RETENTION_DAYS), far beyond any redelivery.
CREATE TABLE IF NOT EXISTS core.tb_nats_ingested (
  event_id UUID PRIMARY KEY,
  fk_entity_change_log BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tb_nats_ingested_created_idx ON core.tb_nats_ingested (created_at);

-- Messages a worker could not decode: kept with their raw payload and headers, then terminated
-- on the stream (never acked silently).
CREATE TABLE IF NOT EXISTS core.tb_nats_dead_letter (
  pk_nats_dead_letter BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream TEXT NOT NULL,
  stream_sequence BIGINT,
  subject TEXT NOT NULL,
  headers JSONB NOT NULL DEFAULT '{}',
  payload BYTEA NOT NULL,
  error TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS tb_nats_dead_letter_seq_idx
  ON core.tb_nats_dead_letter (stream, stream_sequence);
