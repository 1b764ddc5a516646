-- Change capture for user tables: core.fn_track_table installs three statement-level triggers
-- with transition tables, so a 10 000-row INSERT is one trigger call and one set-based INSERT into
-- the change log. Each capturing statement sends one pg_notify: a wake-up hint, never the truth.

-- The SQL of a row image: every column (to_jsonb), or the chosen ones.
CREATE OR REPLACE FUNCTION core.fn_capture_image_sql(alias text, captured text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN captured = '' THEN format('to_jsonb(%s.*)', alias)
    ELSE (
      SELECT format('jsonb_build_object(%s)', string_agg(format('%L, %s.%I', c, alias, c), ', '))
      FROM jsonb_array_elements_text(captured::jsonb) AS c
    )
  END
$$;

-- Arguments (set by fn_track_table): entity type, id column, tenant column ('' = none), the
-- change-log column the tenant goes to, captured columns ('' = all, else a JSON array), and
-- whether updates record the row before the change.
CREATE OR REPLACE FUNCTION core.fn_capture_changes()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, core AS $$
DECLARE
  entity_type text := TG_ARGV[0];
  id_column text := TG_ARGV[1];
  tenant_column text := NULLIF(TG_ARGV[2], '');
  tenant_target text := TG_ARGV[3];
  captured text := TG_ARGV[4];
  pre_image boolean := TG_ARGV[5] = 'true';
  row_alias text := CASE WHEN TG_OP = 'DELETE' THEN 'o' ELSE 'n' END;
  op text := CASE TG_OP WHEN 'INSERT' THEN 'c' WHEN 'UPDATE' THEN 'u' ELSE 'd' END;
  before_sql text := 'NULL::jsonb';
  after_sql text := 'NULL::jsonb';
  from_sql text;
  source jsonb;
  captured_rows bigint;
BEGIN
  -- FraiseQL's mutation executor logs its own writes and marks its transactions so.
  IF current_setting('fraiseql.cdc_mediated', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    after_sql := core.fn_capture_image_sql('n', captured);
    from_sql := 'new_table n';
  ELSIF TG_OP = 'UPDATE' THEN
    after_sql := core.fn_capture_image_sql('n', captured);
    IF pre_image THEN
      before_sql := core.fn_capture_image_sql('o', captured);
      from_sql := format('new_table n LEFT JOIN old_table o ON o.%I = n.%I', id_column, id_column);
    ELSE
      from_sql := 'new_table n';
    END IF;
  ELSE
    -- A delete's row is its pre-image: always recorded, or the event would say nothing.
    before_sql := core.fn_capture_image_sql('o', captured);
    from_sql := 'old_table o';
  END IF;
  source := jsonb_build_object(
    'schema', TG_TABLE_SCHEMA,
    'table', TG_TABLE_NAME,
    'txid', pg_current_xact_id()::text,
    'ts_ms', floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
  );
  EXECUTE format(
    'INSERT INTO core.tb_entity_change_log (object_type, modification_type, object_id, object_data%s)
     SELECT $1, %L, %s.%I::text, jsonb_build_object(''op'', %L, ''before'', %s, ''after'', %s, ''source'', $2)%s
     FROM %s',
    CASE WHEN tenant_column IS NULL THEN '' ELSE ', ' || quote_ident(tenant_target) END,
    TG_OP, row_alias, id_column, op, before_sql, after_sql,
    CASE WHEN tenant_column IS NULL THEN ''
      ELSE format(', %s.%I::%s', row_alias, tenant_column,
        CASE tenant_target WHEN 'tenant_id' THEN 'uuid' ELSE 'bigint' END)
    END,
    from_sql
  ) USING entity_type, source;
  GET DIAGNOSTICS captured_rows = ROW_COUNT;
  IF captured_rows > 0 THEN
    PERFORM pg_notify('fraiseql_observers', '');
  END IF;
  RETURN NULL;
END
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
END
$$;

-- Options: id_column (default: the single-column primary key, else "id"), tenant_column (an
-- integer column goes to fk_customer_org, a uuid column to tenant_id), columns (a JSON array of
-- the columns to capture; default all), pre_image (default true: updates carry `before`).
CREATE OR REPLACE FUNCTION core.fn_track_table(target regclass, entity_type text, options jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, core AS $$
DECLARE
  unknown text;
  id_column text := options ->> 'id_column';
  tenant_column text := options ->> 'tenant_column';
  tenant_target text := '';
  tenant_type regtype;
  captured text := '';
  missing text;
  trigger_args text;
BEGIN
  IF entity_type IS NULL OR btrim(entity_type) = '' THEN
    RAISE EXCEPTION 'fn_track_table: entity_type must not be empty' USING ERRCODE = '22023';
  END IF;
  IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'fn_track_table: options must be a JSON object' USING ERRCODE = '22023';
  END IF;
  SELECT string_agg(format('"%s"', k), ', ') INTO unknown
  FROM jsonb_object_keys(options) AS k
  WHERE k NOT IN ('id_column', 'tenant_column', 'columns', 'pre_image');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'fn_track_table: unknown option %; the options are id_column, tenant_column, columns, pre_image', unknown
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
    captured := (options -> 'columns')::text;
  END IF;
  IF options ? 'pre_image' AND jsonb_typeof(options -> 'pre_image') <> 'boolean' THEN
    RAISE EXCEPTION 'fn_track_table: pre_image must be true or false' USING ERRCODE = '22023';
  END IF;

  trigger_args := format('%L, %L, %L, %L, %L, %L', entity_type, id_column, coalesce(tenant_column, ''),
    tenant_target, captured, coalesce((options ->> 'pre_image')::boolean, true)::text);
  PERFORM core.fn_untrack_table(target);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_insert AFTER INSERT ON %s
    REFERENCING NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.fn_capture_changes(%s)',
    target, trigger_args);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_update AFTER UPDATE ON %s
    REFERENCING OLD TABLE AS old_table NEW TABLE AS new_table FOR EACH STATEMENT EXECUTE FUNCTION core.fn_capture_changes(%s)',
    target, trigger_args);
  EXECUTE format('CREATE TRIGGER fraiseql_observers_capture_delete AFTER DELETE ON %s
    REFERENCING OLD TABLE AS old_table FOR EACH STATEMENT EXECUTE FUNCTION core.fn_capture_changes(%s)',
    target, trigger_args);
END
$$;
