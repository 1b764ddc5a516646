-- Sources (issue 18): foreign databases (MySQL/MariaDB by binlog, SQL Server by CDC) whose
-- committed changes a server reads and writes into core.tb_entity_change_log, managed through
-- /api/sources (docs/sources.md).
--
-- One row per source: its configuration, where reading resumes (`position`, written in the same
-- transaction as the change-log rows it produced, compare-and-set on `position_version`), the
-- lease of the one server reading it (a row, not an advisory lock: it survives poolers and
-- kill -9; another server takes over once `lease_expires_at` passes), and the state shown by the
-- API and health (written by the server holding the lease).
CREATE TABLE IF NOT EXISTS core.tb_source (
  pk_source BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  name TEXT NOT NULL UNIQUE CHECK (btrim(name) <> ''),
  kind TEXT NOT NULL CHECK (kind IN ('mysql', 'sqlserver')),
  -- The connection URL is a secret: AES-GCM ciphertext (key OBSERVERS_SOURCE_KEY, the row's id as
  -- associated data), or the name of the environment variable holding it. Exactly one is set.
  url_ciphertext TEXT,
  url_env TEXT,
  start TEXT NOT NULL CHECK (start IN ('now', 'beginning')),
  tables JSONB NOT NULL CHECK (jsonb_typeof(tables) = 'array'),
  position JSONB CHECK (position IS NULL OR jsonb_typeof(position) = 'object'),
  position_version BIGINT NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at TIMESTAMPTZ,
  connected BOOLEAN NOT NULL DEFAULT false,
  last_error_code TEXT,
  last_error_message TEXT,
  last_error_at TIMESTAMPTZ,
  lag_ms BIGINT,
  changes_captured BIGINT NOT NULL DEFAULT 0,
  transactions_captured BIGINT NOT NULL DEFAULT 0,
  last_captured_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK ((url_ciphertext IS NULL) <> (url_env IS NULL))
);
COMMENT ON TABLE core.tb_source IS
  'Sources read by the servers (docs/sources.md); position is committed with the change-log rows it produced.';
