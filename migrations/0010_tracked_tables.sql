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

-- fn_track_table of 0007_capture_hardening.sql stays as it is, under a name saying what it does:
-- it checks the options and installs the capture function and triggers. fn_track_table, the
-- function users call, becomes that installation plus the record (options as given). Its messages
-- still say "fn_track_table:", which is what the caller called.
ALTER FUNCTION core.fn_track_table(regclass, text, jsonb) RENAME TO fn_install_capture;

CREATE FUNCTION core.fn_track_table(target regclass, entity_type text, options jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, core, pg_temp AS $track$
BEGIN
  PERFORM core.fn_install_capture(target, entity_type, options);
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
