-- API keys for the management API: only a SHA-256 of the token is stored; the token is shown once.
-- The bootstrap admin token a server generates (when OBSERVERS_ADMIN_TOKEN is unset) is kept here
-- too, as an admin key named "bootstrap-admin".
CREATE TABLE core.tb_api_key (
  pk_api_key BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  token_sha256 TEXT NOT NULL UNIQUE,
  -- The first characters of the token, to tell keys apart in lists.
  token_prefix TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('admin', 'read')),
  fk_customer_org BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_used_at TIMESTAMPTZ,
  deleted_at TIMESTAMPTZ
);
