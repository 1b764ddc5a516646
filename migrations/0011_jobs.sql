-- Jobs (issue 19): long-running work handed off by the `job` action. `builtin` jobs live here
-- until a handler registered with `observers.jobs.register(task, ...)` has run them; a
-- `graphile-worker` job leaves a `handed_off` row here, written in the transaction that calls
-- graphile_worker.add_job, so each delivery enqueues its job exactly once (docs/jobs.md).
CREATE TABLE core.tb_job (
  pk_job BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  queue TEXT NOT NULL DEFAULT 'builtin' CHECK (queue IN ('builtin', 'graphile-worker')),
  task TEXT NOT NULL CHECK (task <> ''),
  payload JSONB NOT NULL,
  -- graphile-worker's job_key semantics: one pending job per (tenant, key); enqueueing the key
  -- again replaces the pending job's task, payload and attempts.
  job_key TEXT,
  -- pending: waiting to run (or for its next attempt at run_at); running: leased to lease_owner
  -- until lease_expires_at, extended while the handler runs; handed_off: given to graphile-worker
  -- (external_id is its job id).
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'handed_off')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- NULL: the handler's retry.max_attempts (default 5, as for observers).
  max_attempts INTEGER CHECK (max_attempts > 0),
  run_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_owner TEXT,
  lease_expires_at TIMESTAMPTZ,
  last_error TEXT,
  external_id TEXT,
  fk_observer BIGINT REFERENCES core.tb_observer (pk_observer) ON DELETE SET NULL,
  fk_customer_org BIGINT,
  event_id UUID,
  -- The delivery that enqueued it: a retry of that delivery finds this row instead of adding one.
  delivery_id UUID,
  -- The deliveries whose enqueue a job_key replacement overwrote (earliest first): a retry of one
  -- of them finds this row too, instead of putting its older payload back (docs/jobs.md).
  replaced_delivery_ids UUID[] NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX tb_job_delivery_key ON core.tb_job (delivery_id) WHERE delivery_id IS NOT NULL;
-- Partial: only replaced jobs are indexed, so an enqueue without replacement costs nothing here.
CREATE INDEX tb_job_replaced_delivery_idx ON core.tb_job USING gin (replaced_delivery_ids)
  WHERE replaced_delivery_ids <> '{}';
CREATE UNIQUE INDEX tb_job_pending_key ON core.tb_job ((COALESCE(fk_customer_org, -1)), job_key)
  WHERE job_key IS NOT NULL AND status = 'pending';
CREATE INDEX tb_job_due_idx ON core.tb_job (task, run_at, pk_job)
  WHERE status = 'pending' AND queue = 'builtin';
CREATE INDEX tb_job_lease_idx ON core.tb_job (task, lease_expires_at) WHERE status = 'running';
CREATE INDEX tb_job_created_at_idx ON core.tb_job (created_at);
CREATE INDEX tb_job_observer_idx ON core.tb_job (fk_observer, created_at);

-- The processes that run builtin jobs, and their tasks: what lets the API refuse a job action for
-- a task nobody handles, and say why a pending job waits. A row is live until expires_at, pushed
-- forward by its process's heartbeat; a stopped process deletes its row.
CREATE TABLE core.tb_job_worker (
  pk_job_worker BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  worker_id TEXT NOT NULL UNIQUE,
  tasks TEXT[] NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
