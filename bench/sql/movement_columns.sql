-- The columns of rail.movements that a TRUST movement fills, and how: the
-- one copy of the column list, the casts and the ON CONFLICT ... DO UPDATE
-- list that every plain-SQL baseline uses (bench/sql/baseline_upsert.sql,
-- bench/e2e/baseline.sql, baseline_sql.sql and baseline_setbased.sql).
--
-- Sets three psql variables, for a statement that reads the header and body
-- of each TRUST message as the jsonb columns h and b of its FROM list:
--   movement_columns  the column names, in table order;
--   movement_values   the matching expressions over h and b, i.e. the
--                     fields converted to their column types as rail_stream
--                     does, and the derived columns (variation, late_ind,
--                     platform_text, extra_fields) computed as it does;
--   movement_updates  "col = EXCLUDED.col" for every column but the key
--                     (train_id, planned_event_type, loc_stanox);
-- used as
--   INSERT INTO rail.movements AS t (:movement_columns)
--   SELECT :movement_values
--   FROM (... one row per key, with columns h and b ...) s
--   ON CONFLICT (train_id, planned_event_type, loc_stanox)
--   DO UPDATE SET :movement_updates;
--
-- Text, not a view over the caller's rows: psql pastes it into the
-- statement, so the server gets the statement it would get with the lists
-- written out (same plan), and nothing is created per statement.  A view
-- would have to be created again for each batch of the SQL-level benchmark
-- (its frames :lo..:hi), one more catalog-writing transaction per batch in
-- the timed part.  Set once per psql session: including the file again does
-- nothing.
--
-- Event times are UK wall-clock time written as epoch ms:
--   to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London'
-- msg_queue_timestamp is a true UTC instant: to_timestamp(ms / 1000.0).
\if :{?movement_columns}
\else
SELECT string_agg(c.col, ', ' ORDER BY a.attnum) AS movement_columns,
       string_agg(c.expr, E',\n    ' ORDER BY a.attnum) AS movement_values,
       string_agg(format('%1$s = EXCLUDED.%1$s', c.col), ', ' ORDER BY a.attnum)
           FILTER (WHERE c.col NOT IN ('train_id', 'planned_event_type', 'loc_stanox'))
           AS movement_updates
FROM (VALUES
    ('train_id', $$b->>'train_id'$$),
    ('planned_event_type', $$b->>'planned_event_type'$$),
    ('loc_stanox', $$b->>'loc_stanox'$$),
    ('msg_type', $$h->>'msg_type'$$),
    ('source_dev_id', $$h->>'source_dev_id'$$),
    ('user_id', $$h->>'user_id'$$),
    ('original_data_source', $$h->>'original_data_source'$$),
    ('msg_queue_timestamp', $$to_timestamp((h->>'msg_queue_timestamp')::bigint / 1000.0)$$),
    ('msg_queue_timestamp_ms', $$(h->>'msg_queue_timestamp')::bigint$$),
    ('source_system_id', $$h->>'source_system_id'$$),
    ('event_type', $$b->>'event_type'$$),
    ('gbtt_timestamp', $$to_timestamp((b->>'gbtt_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London'$$),
    ('gbtt_timestamp_ms', $$(b->>'gbtt_timestamp')::bigint$$),
    ('original_loc_stanox', $$b->>'original_loc_stanox'$$),
    ('planned_timestamp', $$to_timestamp((b->>'planned_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London'$$),
    ('planned_timestamp_ms', $$(b->>'planned_timestamp')::bigint$$),
    ('timetable_variation', $$(b->>'timetable_variation')::integer$$),
    ('original_loc_timestamp', $$to_timestamp((b->>'original_loc_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London'$$),
    ('original_loc_timestamp_ms', $$(b->>'original_loc_timestamp')::bigint$$),
    ('current_train_id', $$b->>'current_train_id'$$),
    ('delay_monitoring_point', $$(b->>'delay_monitoring_point')::boolean$$),
    ('next_report_run_time', $$(b->>'next_report_run_time')::integer$$),
    ('reporting_stanox', $$b->>'reporting_stanox'$$),
    ('actual_timestamp', $$to_timestamp((b->>'actual_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London'$$),
    ('actual_timestamp_ms', $$(b->>'actual_timestamp')::bigint$$),
    ('correction_ind', $$(b->>'correction_ind')::boolean$$),
    ('event_source', $$b->>'event_source'$$),
    ('train_file_address', $$b->>'train_file_address'$$),
    ('platform', $$b->>'platform'$$),
    ('division_code', $$b->>'division_code'$$),
    ('train_terminated', $$(b->>'train_terminated')::boolean$$),
    ('offroute_ind', $$(b->>'offroute_ind')::boolean$$),
    ('variation_status', $$b->>'variation_status'$$),
    ('train_service_code', $$b->>'train_service_code'$$),
    ('toc_id', $$b->>'toc_id'$$),
    ('auto_expected', $$(b->>'auto_expected')::boolean$$),
    ('direction_ind', $$b->>'direction_ind'$$),
    ('route', $$b->>'route'$$),
    ('next_report_stanox', $$b->>'next_report_stanox'$$),
    ('line_ind', $$b->>'line_ind'$$),
    -- body fields without a column of their own
    ('extra_fields', $$nullif(b - '{event_type,gbtt_timestamp,original_loc_stanox,planned_timestamp,
                 timetable_variation,original_loc_timestamp,current_train_id,
                 delay_monitoring_point,next_report_run_time,reporting_stanox,
                 actual_timestamp,correction_ind,event_source,train_file_address,
                 platform,division_code,train_terminated,train_id,offroute_ind,
                 variation_status,train_service_code,toc_id,loc_stanox,
                 auto_expected,direction_ind,route,planned_event_type,
                 next_report_stanox,line_ind}'::text[], '{}'::jsonb)$$),
    -- the derived columns, as rail_stream computes them
    ('variation', $$CASE b->>'variation_status'
        WHEN 'ON TIME' THEN 'ON TIME'
        WHEN 'LATE' THEN coalesce((b->>'timetable_variation')::integer, 0) || ' MINS LATE'
        WHEN 'EARLY' THEN coalesce((b->>'timetable_variation')::integer, 0) || ' MINS EARLY'
    END$$),
    ('late_ind', $$CASE b->>'variation_status'
        WHEN 'LATE' THEN true WHEN 'ON TIME' THEN false WHEN 'EARLY' THEN false
    END$$),
    ('platform_text', $$'Platform ' || nullif(btrim(b->>'platform', ' '), '')$$)
) AS c (col, expr)
-- a misspelt column sorts last and makes the INSERT fail, not vanish
LEFT JOIN pg_attribute a
    ON a.attrelid = 'rail.movements'::regclass AND a.attname = c.col
\gset
\endif
