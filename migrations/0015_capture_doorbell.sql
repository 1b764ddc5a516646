-- NOTIFY as a doorbell (issue 20). A capture trigger sent one pg_notify per capturing statement,
-- and PostgreSQL serialises notifying commits (the notification queue's lock is held through each
-- commit's WAL flush): tracked tables committed at about half the rate they could. Now a capture
-- trigger notifies only when no runtime is busy reading the change log: a runtime that keeps
-- finding changes reads again on its own within milliseconds, so it needs no notification, and
-- says so by moving core.sq_capture_quiet_until (a time in ms since the epoch) into the future;
-- once it finds nothing it moves it back (core.fn_capture_arm) and notifications flow again.
--
-- A sequence, not a table: setval is immediate and outside transactions (no commit, no dead
-- rows, no row lock), and every reader sees its current value whatever its snapshot (sequence
-- tuples are changed in place), so a producer in a REPEATABLE READ transaction sees it too.
-- Producers only read it: nothing a producer does takes a lock another producer waits for.
--
-- The quiet time is a lease: a runtime that dies while busy silences nothing for long (it
-- renews the lease while it keeps reading). A lost notification costs at most a poll interval,
-- as before; the runtime's side is src/runtime/capture-doorbell.ts. Tables tracked with
-- "notify": false never notify, as before.

CREATE SEQUENCE IF NOT EXISTS core.sq_capture_quiet_until AS bigint MINVALUE 0 START 0;
COMMENT ON SEQUENCE core.sq_capture_quiet_until IS
  'Until when (ms since the epoch) capture triggers send no notification: a runtime is busy reading the change log. Set by core.fn_capture_quiet and core.fn_capture_arm.';
-- Capture functions run as whoever tracked their table: every role may read the doorbell.
GRANT SELECT ON SEQUENCE core.sq_capture_quiet_until TO PUBLIC;

-- A runtime busy reading: no notifications for `ms` from now (it renews this while busy).
CREATE OR REPLACE FUNCTION core.fn_capture_quiet(ms integer)
RETURNS void LANGUAGE sql VOLATILE SET search_path = pg_catalog, core, pg_temp AS $$
  SELECT setval('core.sq_capture_quiet_until',
    floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint + greatest(ms, 0))
$$;

-- A runtime about to wait: notifications flow again. A writer that looked just before may have
-- found it quiet and not notified; its transaction id is lower than the one this call takes
-- once the doorbell is armed, which it returns: the runtime reads again once every transaction
-- below it has ended (pg_snapshot_xmin past it), which is also when the gap-free reader can see
-- such a writer's changes. (A snapshot's list of running transactions would not do: it leaves
-- out those newer than every finished one.) The id is only a marker: its commit need not wait
-- for the WAL flush.
CREATE OR REPLACE FUNCTION core.fn_capture_arm()
RETURNS xid8 LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, core, pg_temp AS $$
BEGIN
  PERFORM setval('core.sq_capture_quiet_until', 0);
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN pg_current_xact_id();
END
$$;

-- The installer of 0007_capture_hardening.sql (renamed by 0010_tracked_tables.sql), with the
-- doorbell test around the notification; otherwise unchanged.
CREATE OR REPLACE FUNCTION core.fn_install_capture(target regclass, entity_type text, options jsonb DEFAULT '{}')
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
        -- The doorbell: rung only when no runtime is busy reading the change log (0015).
        IF (SELECT q.last_value FROM core.sq_capture_quiet_until q)
           < floor(extract(epoch FROM clock_timestamp()) * 1000) THEN
          PERFORM pg_notify('fraiseql_observers', '');
        END IF;
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

-- Capture functions installed before this migration: the same test around their notification.
-- As in 0007, one whose text is not what fn_install_capture generated, or that this role cannot
-- replace, is left alone (it notifies on every statement, as before) with a warning.
DO $upgrade$
DECLARE
  capture record;
  old_notify constant text := $$\n(\s*)PERFORM pg_notify\('fraiseql_observers', ''\);$$;
  new_notify constant text := $$
\1-- The doorbell: rung only when no runtime is busy reading the change log (0015).
\1IF (SELECT q.last_value FROM core.sq_capture_quiet_until q)
\1   < floor(extract(epoch FROM clock_timestamp()) * 1000) THEN
\1  PERFORM pg_notify('fraiseql_observers', '');
\1END IF;$$;
BEGIN
  FOR capture IN
    SELECT p.proname, p.prosrc, p.proowner, (
      SELECT string_agg(format('%s', t.tgrelid::regclass), ', ') FROM pg_trigger t WHERE t.tgfoid = p.oid
    ) AS tables
    FROM pg_proc p
    WHERE p.pronamespace = 'core'::regnamespace AND p.proname ~ '^fn_capture_[0-9]+$'
      AND p.prorettype = 'trigger'::regtype
  LOOP
    IF capture.prosrc ~ 'sq_capture_quiet_until' THEN
      CONTINUE;
    ELSIF capture.prosrc !~ old_notify THEN
      RAISE WARNING 'capture function core.% (on %) was not generated by this system''s fn_track_table; track its table again with core.fn_track_table',
        capture.proname, coalesce(capture.tables, 'no table');
    ELSIF NOT pg_has_role(current_user, capture.proowner, 'USAGE') THEN
      RAISE WARNING 'capture function core.% (on %) belongs to another role; track its table again with core.fn_track_table so that it stops notifying while a runtime is busy',
        capture.proname, coalesce(capture.tables, 'no table');
    ELSE
      EXECUTE core.fn_capture_function_sql(capture.proname, regexp_replace(capture.prosrc, old_notify, new_notify));
    END IF;
  END LOOP;
END
$upgrade$;
