-- Tracked tables, recorded (issue 16). Until now nothing said which entity type a tracked table
-- carries but its capture function's body, so finding whether an entity type is tracked meant
-- searching function bodies for the literal that fn_track_table had written there. The record is
-- now core.tb_tracked_table, kept by core.fn_track_table and core.fn_untrack_table.
-- Also: fn_untrack_table (and so a first fn_track_table) no longer prints
-- "NOTICE: function core.fn_capture_… does not exist, skipping".

-- One row per tracked table. `tracked_table` is a regclass, not a bare oid: pg_dump writes it as
-- the table's name and a restore resolves it to the new table, and pg_upgrade keeps table oids.
-- A table dropped with DROP TABLE leaves its row behind (catching drops would take an event
-- trigger, which only a superuser can create): readers join pg_class and the capture triggers,
-- and tracking a new table that happens to get the same oid replaces the row.
CREATE TABLE IF NOT EXISTS core.tb_tracked_table (
  tracked_table regclass PRIMARY KEY,
  qualified_name text NOT NULL,
  entity_type text NOT NULL CHECK (btrim(entity_type) <> ''),
  -- The options fn_track_table was given; NULL for a table tracked before this migration, whose
  -- options were never stored.
  options jsonb CHECK (options IS NULL OR jsonb_typeof(options) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE core.tb_tracked_table IS
  'Tables tracked with core.fn_track_table and the entity type of their changes; rows of dropped tables may remain (join pg_class).';
COMMENT ON COLUMN core.tb_tracked_table.qualified_name IS
  'schema.table, quoted as an SQL identifier, when the table was tracked (not renamed with it).';
CREATE INDEX IF NOT EXISTS ix_tracked_table_entity_type ON core.tb_tracked_table (entity_type);

-- As in 0002_capture.sql, plus: the row goes, and the capture function is dropped only when it
-- exists (DROP FUNCTION IF EXISTS printed a NOTICE on every first track, which the README shows).
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
  name := core.fn_capture_function_name(target);
  IF to_regprocedure(format('core.%I()', name)) IS NOT NULL THEN
    EXECUTE format('DROP FUNCTION core.%I()', name);
  END IF;
  DELETE FROM core.tb_tracked_table WHERE tracked_table = target;
END
$$;

-- As in 0007_capture_hardening.sql, plus the record in core.tb_tracked_table (options as given).
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

  -- Rows of tables dropped since (DROP TABLE removes the triggers, not our row; an event trigger
  -- would need a superuser): forgotten here, so they neither pile up nor meet a reused oid.
  DELETE FROM core.tb_tracked_table t
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.tracked_table::oid);
  INSERT INTO core.tb_tracked_table (tracked_table, qualified_name, entity_type, options)
  SELECT c.oid::regclass, format('%I.%I', n.nspname, c.relname), entity_type, options
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target
  ON CONFLICT (tracked_table) DO UPDATE
    SET qualified_name = excluded.qualified_name, entity_type = excluded.entity_type,
        options = excluded.options, created_at = excluded.created_at;
END
$track$;


-- Tables tracked before this migration: each capture function that a capture trigger still uses
-- gives its table and, from the INSERT branch of its body, the entity type, as fn_track_table
-- wrote it with format('%L') (quotes doubled; with backslashes, an E'' literal with them doubled
-- too). The only place that reads the body; options are unknown (NULL).
INSERT INTO core.tb_tracked_table (tracked_table, qualified_name, entity_type, options)
SELECT DISTINCT ON (c.oid) c.oid::regclass, format('%I.%I', n.nspname, c.relname),
  CASE WHEN m[1] = 'E' THEN replace(replace(m[2], '''''', ''''), '\\', '\')
       ELSE replace(m[2], '''''', '''') END,
  NULL::jsonb
FROM pg_proc p
JOIN pg_trigger t ON t.tgfoid = p.oid AND t.tgname IN ('fraiseql_observers_capture_insert',
  'fraiseql_observers_capture_update', 'fraiseql_observers_capture_delete')
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL regexp_match(p.prosrc, $re$SELECT (E?)'((?:[^']|'')*)', 'INSERT'$re$) AS m
WHERE p.pronamespace = 'core'::regnamespace AND p.proname ~ '^fn_capture_[0-9]+$'
  AND p.prorettype = 'trigger'::regtype AND m IS NOT NULL
ORDER BY c.oid
ON CONFLICT (tracked_table) DO NOTHING;
