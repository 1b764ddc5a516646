-- Change capture for user tables. core.fn_track_table generates one capture function per table,
-- with static SQL (planned once per session, not on every statement), and installs three
-- statement-level triggers with transition tables: a 10 000-row INSERT is one trigger call and one
-- set-based INSERT into the change log. Each capturing statement sends one pg_notify (unless the
-- table is tracked with "notify": false): a wake-up hint, never the truth.

-- The SQL of a row image: every column, or the chosen ones. `alias.*` (not `alias`), so that a
-- column named like the alias cannot stand in for the row.
CREATE OR REPLACE FUNCTION core.fn_capture_image_sql(alias text, captured jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN captured IS NULL THEN format('to_jsonb(%s.*)', alias)
    ELSE (
      SELECT format('jsonb_build_object(%s)', string_agg(format('%L, %s.%I', c, alias, c), ', '))
      FROM jsonb_array_elements_text(captured) AS c
    )
  END
$$;

-- The name of a table's capture function: stable for the table, unique, under 63 bytes.
CREATE OR REPLACE FUNCTION core.fn_capture_function_name(target regclass)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT 'fn_capture_' || c.oid::text
  FROM pg_class c WHERE c.oid = target
$$;

CREATE OR REPLACE FUNCTION core.fn_untrack_table(target regclass)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, core AS $$
DECLARE
  name text;
BEGIN
  FOR name IN
    SELECT tgname FROM pg_trigger
    WHERE tgrelid = target AND tgname IN ('fraiseql_observers_capture_insert',
      'fraiseql_observers_capture_update', 'fraiseql_observers_capture_delete')
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', name, target);
  END LOOP;
  EXECUTE format('DROP FUNCTION IF EXISTS core.%I()', core.fn_capture_function_name(target));
END
$$;

-- Options: id_column (default: the single-column primary key, else "id"), tenant_column (an
-- integer column goes to fk_customer_org, a uuid column to tenant_id), columns (a JSON array of
-- the columns to capture; default all), pre_image (default true: updates carry `before`), notify
-- (default true: wake listening runtimes at once; false leaves it to their poll, for tables
-- written so fast that NOTIFY's commit-time lock would throttle the writers).
CREATE OR REPLACE FUNCTION core.fn_track_table(target regclass, entity_type text, options jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, core AS $track$
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

  PERFORM core.fn_untrack_table(target);
  -- Static statements: PL/pgSQL plans each once per session. A statement naming old_table is
  -- only planned by the triggers that have it.
  EXECUTE format($body$
    CREATE FUNCTION core.%1$I() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, core AS $capture$
    DECLARE
      source jsonb;
      captured_rows bigint;
    BEGIN
      -- FraiseQL's mutation executor logs its own writes and marks its transactions so.
      IF current_setting('fraiseql.cdc_mediated', true) = 'on' THEN
        RETURN NULL;
      END IF;
      source := jsonb_build_object('schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
        'txid', pg_current_xact_id()::text,
        'ts_ms', floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      IF TG_OP = 'INSERT' THEN
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%2$s)
        SELECT %3$L, 'INSERT', n.%4$I::text,
          jsonb_build_object('op', 'c', 'before', NULL::jsonb, 'after', %5$s, 'source', source)%6$s
        FROM new_table n;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%2$s)
        SELECT %3$L, 'UPDATE', n.%4$I::text,
          jsonb_build_object('op', 'u', 'before', %7$s, 'after', %5$s, 'source', source)%6$s
        FROM %8$s;
      ELSE
        -- A delete's row is its pre-image: always recorded, or the event would say nothing.
        INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%2$s)
        SELECT %3$L, 'DELETE', o.%4$I::text,
          jsonb_build_object('op', 'd', 'before', %9$s, 'after', NULL::jsonb, 'source', source)%10$s
        FROM old_table o;
      END IF;
      GET DIAGNOSTICS captured_rows = ROW_COUNT;
      IF %11$s AND captured_rows > 0 THEN
        PERFORM pg_notify('fraiseql_observers', '');
      END IF;
      RETURN NULL;
    END
    $capture$
  $body$,
    fn, tenant_insert, entity_type, id_column, core.fn_capture_image_sql('n', captured), tenant_new,
    update_before, update_from, core.fn_capture_image_sql('o', captured), tenant_old, notify::text);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_insert AFTER INSERT ON %s
    REFERENCING NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()', target, fn);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_update AFTER UPDATE ON %s
    REFERENCING OLD TABLE AS old_table NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()',
    target, fn);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_delete AFTER DELETE ON %s
    REFERENCING OLD TABLE AS old_table FOR EACH STATEMENT EXECUTE FUNCTION core.%I()', target, fn);
END
$track$;
