-- Observers, with FraiseQL's columns. Soft-deleted with deleted_at; names unique per tenant among
-- live rows.
CREATE TABLE core.tb_observer (
  pk_observer BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  description TEXT,
  entity_type TEXT,
  event_type TEXT CHECK (event_type IN ('INSERT', 'UPDATE', 'DELETE', 'CUSTOM')),
  condition_expression TEXT,
  actions JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(actions) = 'array'),
  enabled BOOLEAN NOT NULL DEFAULT true,
  priority INTEGER NOT NULL DEFAULT 100,
  retry_config JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(retry_config) = 'object'),
  timeout_ms INTEGER NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
  fk_customer_org BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by TEXT,
  updated_by TEXT,
  deleted_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX tb_observer_name_per_tenant_key
  ON core.tb_observer (name, COALESCE(fk_customer_org, -1)) WHERE deleted_at IS NULL;
CREATE INDEX tb_observer_live_idx ON core.tb_observer (priority, pk_observer) WHERE deleted_at IS NULL;

-- Bumped by every write to tb_observer (API or plain SQL), in the writer's transaction: a runtime
-- that sees a new revision reloads its observers. The NOTIFY only makes that happen sooner.
CREATE TABLE core.tb_observer_revision (
  pk_observer_revision BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  revision BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO core.tb_observer_revision (revision) VALUES (0);

CREATE FUNCTION core.fn_observer_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER tr_observer_updated_at BEFORE UPDATE ON core.tb_observer
  FOR EACH ROW EXECUTE FUNCTION core.fn_observer_touch();

CREATE FUNCTION core.fn_observer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE core.tb_observer_revision SET revision = revision + 1, updated_at = now();
  PERFORM pg_notify('fraiseql_observers', 'observers');
  RETURN NULL;
END
$$;

CREATE TRIGGER tr_observer_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON core.tb_observer
  FOR EACH STATEMENT EXECUTE FUNCTION core.fn_observer_changed();
