-- Durable delivery: the reader's cursor, one row per pending (change, observer, action), the log
-- of every attempt, and the dead letters.

-- Per-listener cursor over the change log, in the gap-free read order (transaction_id, pk). It is
-- advanced in the same transaction that writes the deliveries of the changes it passes.
CREATE TABLE core.tb_observer_checkpoint (
  pk_observer_checkpoint BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  listener_id TEXT NOT NULL UNIQUE,
  last_transaction_id xid8 NOT NULL DEFAULT '0',
  last_processed_id BIGINT NOT NULL DEFAULT 0,
  last_processed_at TIMESTAMPTZ,
  events_processed BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Dead letters: everything needed to replay one delivery, including a copy of the change (the
-- change log is pruned sooner), so nothing is lost when the change log is. The action is read
-- from the observer at replay time: fix the target, then replay.
CREATE TABLE core.tb_observer_dlq (
  pk_observer_dlq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  fk_observer BIGINT REFERENCES core.tb_observer (pk_observer) ON DELETE SET NULL,
  observer_name TEXT NOT NULL,
  -- The webhook-id: a replay sends the same one, so receivers deduplicate.
  delivery_id UUID NOT NULL,
  action_index INTEGER NOT NULL,
  action_type TEXT NOT NULL,
  event_id UUID NOT NULL,
  fk_entity_change_log BIGINT,
  -- The change, as core.tb_entity_change_log held it.
  object_type TEXT NOT NULL,
  modification_type TEXT NOT NULL,
  object_id TEXT,
  object_data JSONB,
  object_data_before JSONB,
  fk_customer_org BIGINT,
  tenant_id UUID,
  trace_id TEXT,
  transaction_id xid8,
  change_created_at TIMESTAMPTZ NOT NULL,
  -- The last failure.
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  error_code TEXT,
  error_message TEXT,
  response_status_code INTEGER,
  -- pending: waiting for a person; retrying: a replay is queued or running.
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying')),
  retry_count INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_retry_at TIMESTAMPTZ
);
CREATE INDEX tb_observer_dlq_created_at_idx ON core.tb_observer_dlq (created_at);
CREATE INDEX tb_observer_dlq_observer_idx ON core.tb_observer_dlq (fk_observer, created_at);
CREATE INDEX tb_observer_dlq_event_idx ON core.tb_observer_dlq (event_id);

-- Pending deliveries. A row lives from the match until success (deleted; the log keeps the
-- record) or a final failure (moved to the DLQ). Claiming sets lease_owner and pushes
-- next_attempt_at to the end of the lease, renewed while the attempt runs: a crashed runtime's
-- deliveries come due again when its leases run out.
CREATE TABLE core.tb_observer_delivery (
  pk_observer_delivery BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The webhook-id: derived from (change, observer, action), so it is the same on every retry,
  -- on a replay, and even if the change were ever matched again. Not indexed: nothing looks
  -- deliveries up by it, and every index is written once per change.
  id UUID NOT NULL,
  fk_observer BIGINT NOT NULL REFERENCES core.tb_observer (pk_observer) ON DELETE CASCADE,
  fk_entity_change_log BIGINT,
  -- Set when the delivery replays a dead letter (whose copy of the change it reads).
  fk_observer_dlq BIGINT REFERENCES core.tb_observer_dlq (pk_observer_dlq) ON DELETE CASCADE,
  action_index INTEGER NOT NULL CHECK (action_index >= 0),
  attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt > 0),
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_owner TEXT,
  fk_customer_org BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (fk_entity_change_log IS NOT NULL OR fk_observer_dlq IS NOT NULL)
);
-- The only index besides the primary key: this table takes several writes per change, and the
-- retention sweep and observer deletes can afford to scan it (it holds pending work only).
CREATE INDEX tb_observer_delivery_due_idx ON core.tb_observer_delivery (next_attempt_at);

-- One row per attempt of an action (FraiseQL's columns), and one per condition that could not be
-- evaluated or change that could not be read.
CREATE TABLE core.tb_observer_log (
  pk_observer_log BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Public id, not indexed: one row is written per attempt, and rows are found by observer,
  -- event, trace or time.
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  -- Not a foreign key: the check would cost every attempt a lookup, and observers are
  -- soft-deleted; retention removes the rows of hard-deleted ones with the rest.
  fk_observer BIGINT,
  fk_entity_change_log BIGINT,
  delivery_id UUID,
  event_id UUID NOT NULL,
  entity_type TEXT,
  entity_id TEXT,
  event_type TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('pending', 'running', 'success', 'failed', 'skipped', 'timeout', 'cancelled')),
  action_index INTEGER,
  action_type TEXT,
  started_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  duration_ms INTEGER CHECK (duration_ms >= 0),
  error_code TEXT,
  error_message TEXT,
  error_details JSONB,
  attempt_number INTEGER NOT NULL DEFAULT 1 CHECK (attempt_number > 0),
  max_attempts INTEGER NOT NULL DEFAULT 1,
  next_retry_at TIMESTAMPTZ,
  request_payload JSONB,
  response_payload JSONB,
  response_status_code INTEGER,
  trace_id TEXT,
  span_id TEXT,
  parent_span_id TEXT,
  fk_customer_org BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tb_observer_log_observer_idx ON core.tb_observer_log (fk_observer, created_at DESC);
CREATE INDEX tb_observer_log_event_idx ON core.tb_observer_log (event_id);
CREATE INDEX tb_observer_log_created_at_idx ON core.tb_observer_log (created_at);
CREATE INDEX tb_observer_log_trace_idx ON core.tb_observer_log (trace_id) WHERE trace_id IS NOT NULL;
