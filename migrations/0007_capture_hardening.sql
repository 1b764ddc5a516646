-- Capture hardening (issue 15).
-- 1. core.fn_track_table built each capture function inside a `$capture$` dollar quote, which
--    format()'s %L and %I do not escape: an entity type or column name holding `$capture$` ended
--    the body early and ran the rest as SQL with the tracker's rights. The body is now passed as
--    one string literal (`AS %L`), which no value can end.
-- 2. `fraiseql.cdc_mediated = 'on'` skipped capture for any writer. Only roles listed in
--    core.tb_cdc_mediated_role may skip it now; for the others the change is captured anyway.
-- 3. SECURITY DEFINER functions list pg_temp last in their search_path, so a session's temporary
--    objects can never be found before the real ones.

-- Who may skip capture with `fraiseql.cdc_mediated = 'on'` (FraiseQL's mutation executor writes
-- its own change-log rows and marks its transactions so). 'public' stands for every role: it is
-- the default, so existing FraiseQL deployments keep working. Lock it down by deleting 'public'
-- and listing the executor's role; an empty table lets no one skip capture.
CREATE TABLE IF NOT EXISTS core.tb_cdc_mediated_role (
  role_name TEXT PRIMARY KEY CHECK (role_name <> ''),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE core.tb_cdc_mediated_role IS
  'Roles allowed to skip capture with fraiseql.cdc_mediated = ''on'' (session_user or a member of it); ''public'' = every role.';
INSERT INTO core.tb_cdc_mediated_role (role_name) VALUES ('public') ON CONFLICT DO NOTHING;

-- Whether this session may skip capture. session_user, not current_user: inside the SECURITY
-- DEFINER capture function current_user is the function's owner, whereas session_user is the
-- role the connection logged in as (SET ROLE does not change it, and only a superuser can change
-- it with SET SESSION AUTHORIZATION). A member of a listed role counts (it could SET ROLE to it),
-- and so does a superuser (a member of every role, who could drop the triggers anyway). SECURITY
-- DEFINER so that capture functions, owned by whoever tracked the table, need no grant on the
-- list; a name that is not (or no longer) a role matches nothing rather than failing writes.
CREATE OR REPLACE FUNCTION core.fn_cdc_mediated_allowed()
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, core, pg_temp AS $$
  SELECT EXISTS (
    SELECT 1 FROM core.tb_cdc_mediated_role m
    WHERE m.role_name = 'public'
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname = m.role_name AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'))
  )
$$;

-- The SQL of a row image, as before; the alias is quoted too (callers only pass n and o).
CREATE OR REPLACE FUNCTION core.fn_capture_image_sql(alias text, captured jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN captured IS NULL THEN format('to_jsonb(%I.*)', alias)
    ELSE (
      SELECT format('jsonb_build_object(%s)', string_agg(format('%L, %I.%I', c, alias, c), ', '))
      FROM jsonb_array_elements_text(captured) AS c
    )
  END
$$;

-- The capture function's CREATE statement, from its body. One place, so that fn_track_table and
-- the upgrade below create the same thing; the body goes in as a literal (%L), never spliced.
CREATE OR REPLACE FUNCTION core.fn_capture_function_sql(fn text, body text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT format('CREATE OR REPLACE FUNCTION core.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
    'SET search_path = pg_catalog, core, pg_temp AS %L', fn, body)
$$;

-- Options as in 0002_capture.sql (id_column, tenant_column, columns, pre_image, notify).
CREATE OR REPLACE FUNCTION core.fn_track_table(target regclass, entity_type text, options jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, core, pg_temp AS $track$
DECLARE
  unknown text;
  id_column text := options ->> 'id_column';
  tenant_column text := options ->> 'tenant_column';
  tenant_target text;
  tenant_type regtype;
  captured jsonb;
  missing text;
  pre_image boolean;
  notify boolean;
  fn text := core.fn_capture_function_name(target);
  tenant_insert text := '';
  tenant_new text := '';
  tenant_old text := '';
  update_before text := 'NULL::jsonb';
  update_from text := 'new_table n';
  body text;
BEGIN
  IF entity_type IS NULL OR btrim(entity_type) = '' THEN
    RAISE EXCEPTION 'fn_track_table: entity_type must not be empty' USING ERRCODE = '22023';
  END IF;
  IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'fn_track_table: options must be a JSON object' USING ERRCODE = '22023';
  END IF;
  SELECT string_agg(format('"%s"', k), ', ') INTO unknown
  FROM jsonb_object_keys(options) AS k
  WHERE k NOT IN ('id_column', 'tenant_column', 'columns', 'pre_image', 'notify');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'fn_track_table: unknown option %; the options are id_column, tenant_column, columns, pre_image, notify', unknown
      USING ERRCODE = '22023';
  END IF;

  IF id_column IS NULL THEN
    SELECT a.attname INTO id_column
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = target AND i.indisprimary AND i.indnatts = 1;
  END IF;
  IF id_column IS NULL THEN
    id_column := 'id';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = target AND attname = id_column
                 AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'fn_track_table: % has no column "%" to identify rows; pass {"id_column": "..."}', target, id_column
      USING ERRCODE = '42703';
  END IF;

  IF tenant_column IS NOT NULL THEN
    SELECT atttypid::regtype INTO tenant_type FROM pg_attribute
    WHERE attrelid = target AND attname = tenant_column AND attnum > 0 AND NOT attisdropped;
    IF tenant_type IS NULL THEN
      RAISE EXCEPTION 'fn_track_table: tenant_column "%" is not a column of %', tenant_column, target
        USING ERRCODE = '42703';
    ELSIF tenant_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
      tenant_target := 'fk_customer_org';
    ELSIF tenant_type = 'uuid'::regtype THEN
      tenant_target := 'tenant_id';
    ELSE
      RAISE EXCEPTION 'fn_track_table: tenant_column "%" is %, expected an integer or uuid column', tenant_column, tenant_type
        USING ERRCODE = '42804';
    END IF;
    tenant_insert := ', ' || quote_ident(tenant_target);
    tenant_new := format(', n.%I', tenant_column);
    tenant_old := format(', o.%I', tenant_column);
  END IF;

  IF options ? 'columns' THEN
    IF jsonb_typeof(options -> 'columns') <> 'array' OR jsonb_array_length(options -> 'columns') = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(options -> 'columns') c WHERE jsonb_typeof(c) <> 'string') THEN
      RAISE EXCEPTION 'fn_track_table: columns must be a non-empty JSON array of column names' USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(format('"%s"', c), ', ') INTO missing
    FROM jsonb_array_elements_text(options -> 'columns') AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = target AND attname = c
                      AND attnum > 0 AND NOT attisdropped);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'fn_track_table: % has no column %', target, missing USING ERRCODE = '42703';
    END IF;
    captured := options -> 'columns';
  END IF;
  FOREACH unknown IN ARRAY ARRAY['pre_image', 'notify'] LOOP
    IF options ? unknown AND jsonb_typeof(options -> unknown) <> 'boolean' THEN
      RAISE EXCEPTION 'fn_track_table: % must be true or false', unknown USING ERRCODE = '22023';
    END IF;
  END LOOP;
  pre_image := coalesce((options ->> 'pre_image')::boolean, true);
  notify := coalesce((options ->> 'notify')::boolean, true);
  IF pre_image THEN
    update_before := core.fn_capture_image_sql('o', captured);
    update_from := format('new_table n LEFT JOIN old_table o ON o.%I = n.%I', id_column, id_column);
  END IF;

  -- The body only ever holds names through %I and values through %L, which are safe inside
  -- PL/pgSQL; the whole body then becomes one literal of the CREATE statement.
  body := format($body$
    DECLARE
      source jsonb;
      captured_rows bigint;
    BEGIN
      -- FraiseQL's mutation executor logs its own writes and marks its transactions so; only
      -- the roles in core.tb_cdc_mediated_role may skip capture that way. Two IFs, not one AND:
      -- the outer test stays a simple expression, which PL/pgSQL evaluates on its fast path (as
      -- one condition with the role check, commits of tracked tables ran a third slower).
      IF current_setting('fraiseql.cdc_mediated', true) = 'on' THEN
        IF core.fn_cdc_mediated_allowed() THEN
          RETURN NULL;
        END IF;
      END IF;
      source := jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
        'txid', pg_current_xact_id()::text,
        'ts_ms', floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      IF TG_OP = 'INSERT' THEN
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%1$s)
        SELECT %2$L, 'INSERT', n.%3$I::text,
          jsonb_build_object('op', 'c', 'before', NULL::jsonb, 'after', %4$s, 'source', source)%5$s
        FROM new_table n;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%1$s)
        SELECT %2$L, 'UPDATE', n.%3$I::text,
          jsonb_build_object('op', 'u', 'before', %6$s, 'after', %4$s, 'source', source)%5$s
        FROM %7$s;
      ELSE
        -- A delete's row is its pre-image: always recorded, or the event would say nothing.
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%1$s)
        SELECT %2$L, 'DELETE', o.%3$I::text,
          jsonb_build_object('op', 'd', 'before', %8$s, 'after', NULL::jsonb, 'source', source)%9$s
        FROM old_table o;
      END IF;
      GET DIAGNOSTICS captured_rows = ROW_COUNT;
      IF %10$s AND captured_rows > 0 THEN
        PERFORM pg_notify('fraiseql_observers', '');
      END IF;
      RETURN NULL;
    END
  $body$,
    tenant_insert, entity_type, id_column, core.fn_capture_image_sql('n', captured), tenant_new,
    update_before, update_from, core.fn_capture_image_sql('o', captured), tenant_old, notify::text);

  PERFORM core.fn_untrack_table(target);
  EXECUTE core.fn_capture_function_sql(fn, body);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_insert AFTER INSERT ON %s
    REFERENCING NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()', target, fn);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_update AFTER UPDATE ON %s
    REFERENCING OLD TABLE AS old_table NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()',
    target, fn);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_delete AFTER DELETE ON %s
    REFERENCING OLD TABLE AS old_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()', target, fn);
END
$track$;

-- Capture functions generated before this migration: same body with the role check added, and
-- pg_temp last in their search_path. Each is recreated from its own text (the tables' options are
-- not stored anywhere else); one this role cannot replace, or whose text is not what 0002
-- generated, is left alone with a warning to track its table again.
DO $upgrade$
DECLARE
  capture record;
  -- 0002's early return, whatever its indentation; replaced by the same test around the role check.
  old_check constant text :=
    $$IF current_setting\('fraiseql\.cdc_mediated', true\) = 'on' THEN\s+RETURN NULL;\s+END IF;$$;
  new_check constant text := $$IF current_setting('fraiseql.cdc_mediated', true) = 'on' THEN
        IF core.fn_cdc_mediated_allowed() THEN
          RETURN NULL;
        END IF;
      END IF;$$;
BEGIN
  FOR capture IN
    SELECT p.proname, p.prosrc, p.proowner, (
      SELECT string_agg(format('%s', t.tgrelid::regclass), ', ') FROM pg_trigger t WHERE t.tgfoid = p.oid
    ) AS tables
    FROM pg_proc p
    WHERE p.pronamespace = 'core'::regnamespace AND p.proname ~ '^fn_capture_[0-9]+$'
      AND p.prorettype = 'trigger'::regtype
  LOOP
    IF capture.prosrc !~ old_check THEN
      RAISE WARNING 'capture function core.% (on %) was not generated by this system''s fn_track_table; track its table again with core.fn_track_table',
        capture.proname, coalesce(capture.tables, 'no table');
    ELSIF NOT pg_has_role(current_user, capture.proowner, 'USAGE') THEN
      RAISE WARNING 'capture function core.% (on %) belongs to another role; track its table again with core.fn_track_table so that only the roles in core.tb_cdc_mediated_role may skip capture',
        capture.proname, coalesce(capture.tables, 'no table');
    ELSE
      EXECUTE core.fn_capture_function_sql(capture.proname, regexp_replace(capture.prosrc, old_check, new_check));
    END IF;
  END LOOP;
END
$upgrade$;
