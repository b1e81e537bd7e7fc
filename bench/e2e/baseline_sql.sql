-- The "sql" end-to-end baseline (bench/e2e/run.sh, E2E_BASELINES=sql): no
-- jq.  After
--   kcat -C ... -e -q | psql -c "\copy staging (frame) FROM pstdin ..."
-- has landed one Kafka message, i.e. one ActiveMQ envelope
-- {"text":"[...]"} holding up to 32 TRUST messages, per row in the temporary
-- table staging(id bigserial, frame text), this one statement explodes the
-- frames in the server (jsonb_array_elements of the envelope's "text"
-- string, WITH ORDINALITY), keeps the latest report of each key (DISTINCT
-- ON, by arrival order: staging id, then position in the frame), converts
-- the header and body fields to their column types exactly as baseline.sql
-- does and upserts them into rail.movements, so the same BEFORE
-- (enrichment) and AFTER (daily counts) triggers fire as for rail_stream's
-- worker.  This is bench/sql/baseline_upsert.sql fed from kcat.
--
-- The column list, casts and ON CONFLICT clause are baseline.sql's:
-- event times are UK wall-clock time written as epoch ms,
--   to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London';
-- msg_queue_timestamp is a true UTC instant: to_timestamp(ms / 1000.0).
INSERT INTO rail.movements AS t (
    train_id, planned_event_type, loc_stanox,
    msg_type, source_dev_id, user_id, original_data_source,
    msg_queue_timestamp, msg_queue_timestamp_ms, source_system_id,
    event_type, gbtt_timestamp, gbtt_timestamp_ms, original_loc_stanox,
    planned_timestamp, planned_timestamp_ms, timetable_variation,
    original_loc_timestamp, original_loc_timestamp_ms, current_train_id,
    delay_monitoring_point, next_report_run_time, reporting_stanox,
    actual_timestamp, actual_timestamp_ms, correction_ind, event_source,
    train_file_address, platform, division_code, train_terminated,
    offroute_ind, variation_status, train_service_code, toc_id,
    auto_expected, direction_ind, route, next_report_stanox, line_ind,
    variation, late_ind, platform_text, extra_fields)
SELECT
    b->>'train_id', b->>'planned_event_type', b->>'loc_stanox',
    h->>'msg_type', h->>'source_dev_id', h->>'user_id', h->>'original_data_source',
    to_timestamp((h->>'msg_queue_timestamp')::bigint / 1000.0),
    (h->>'msg_queue_timestamp')::bigint, h->>'source_system_id',
    b->>'event_type',
    to_timestamp((b->>'gbtt_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London',
    (b->>'gbtt_timestamp')::bigint,
    b->>'original_loc_stanox',
    to_timestamp((b->>'planned_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London',
    (b->>'planned_timestamp')::bigint,
    (b->>'timetable_variation')::integer,
    to_timestamp((b->>'original_loc_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London',
    (b->>'original_loc_timestamp')::bigint,
    b->>'current_train_id',
    (b->>'delay_monitoring_point')::boolean, (b->>'next_report_run_time')::integer,
    b->>'reporting_stanox',
    to_timestamp((b->>'actual_timestamp')::bigint / 1000.0) AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London',
    (b->>'actual_timestamp')::bigint,
    (b->>'correction_ind')::boolean, b->>'event_source',
    b->>'train_file_address', b->>'platform', b->>'division_code',
    (b->>'train_terminated')::boolean, (b->>'offroute_ind')::boolean,
    b->>'variation_status', b->>'train_service_code', b->>'toc_id',
    (b->>'auto_expected')::boolean, b->>'direction_ind', b->>'route',
    b->>'next_report_stanox', b->>'line_ind',
    -- the derived columns, as rail_stream computes them
    CASE b->>'variation_status'
        WHEN 'ON TIME' THEN 'ON TIME'
        WHEN 'LATE' THEN coalesce((b->>'timetable_variation')::integer, 0) || ' MINS LATE'
        WHEN 'EARLY' THEN coalesce((b->>'timetable_variation')::integer, 0) || ' MINS EARLY'
    END,
    CASE b->>'variation_status'
        WHEN 'LATE' THEN true WHEN 'ON TIME' THEN false WHEN 'EARLY' THEN false
    END,
    'Platform ' || nullif(btrim(b->>'platform', ' '), ''),
    -- body fields without a column of their own
    nullif(b - '{event_type,gbtt_timestamp,original_loc_stanox,planned_timestamp,
                 timetable_variation,original_loc_timestamp,current_train_id,
                 delay_monitoring_point,next_report_run_time,reporting_stanox,
                 actual_timestamp,correction_ind,event_source,train_file_address,
                 platform,division_code,train_terminated,train_id,offroute_ind,
                 variation_status,train_service_code,toc_id,loc_stanox,
                 auto_expected,direction_ind,route,planned_event_type,
                 next_report_stanox,line_ind}'::text[], '{}'::jsonb)
FROM (
    -- the latest report of each key: the one that came last out of kcat,
    -- by frame (staging id) and position in the frame (keys never cross
    -- partitions, and kcat keeps each partition's order)
    SELECT DISTINCT ON (e.m->'body'->>'train_id', e.m->'body'->>'planned_event_type',
                        e.m->'body'->>'loc_stanox')
           e.m->'header' AS h, e.m->'body' AS b
    FROM staging f,
         jsonb_array_elements((f.frame::jsonb->>'text')::jsonb) WITH ORDINALITY AS e(m, n)
    WHERE e.m->'header'->>'msg_type' = '0003'
    ORDER BY e.m->'body'->>'train_id', e.m->'body'->>'planned_event_type',
             e.m->'body'->>'loc_stanox', f.id DESC, e.n DESC
) s
ON CONFLICT (train_id, planned_event_type, loc_stanox) DO UPDATE SET
    msg_type = EXCLUDED.msg_type, source_dev_id = EXCLUDED.source_dev_id,
    user_id = EXCLUDED.user_id, original_data_source = EXCLUDED.original_data_source,
    msg_queue_timestamp = EXCLUDED.msg_queue_timestamp,
    msg_queue_timestamp_ms = EXCLUDED.msg_queue_timestamp_ms,
    source_system_id = EXCLUDED.source_system_id, event_type = EXCLUDED.event_type,
    gbtt_timestamp = EXCLUDED.gbtt_timestamp, gbtt_timestamp_ms = EXCLUDED.gbtt_timestamp_ms,
    original_loc_stanox = EXCLUDED.original_loc_stanox,
    planned_timestamp = EXCLUDED.planned_timestamp,
    planned_timestamp_ms = EXCLUDED.planned_timestamp_ms,
    timetable_variation = EXCLUDED.timetable_variation,
    original_loc_timestamp = EXCLUDED.original_loc_timestamp,
    original_loc_timestamp_ms = EXCLUDED.original_loc_timestamp_ms,
    current_train_id = EXCLUDED.current_train_id,
    delay_monitoring_point = EXCLUDED.delay_monitoring_point,
    next_report_run_time = EXCLUDED.next_report_run_time,
    reporting_stanox = EXCLUDED.reporting_stanox,
    actual_timestamp = EXCLUDED.actual_timestamp,
    actual_timestamp_ms = EXCLUDED.actual_timestamp_ms,
    correction_ind = EXCLUDED.correction_ind, event_source = EXCLUDED.event_source,
    train_file_address = EXCLUDED.train_file_address, platform = EXCLUDED.platform,
    division_code = EXCLUDED.division_code, train_terminated = EXCLUDED.train_terminated,
    offroute_ind = EXCLUDED.offroute_ind, variation_status = EXCLUDED.variation_status,
    train_service_code = EXCLUDED.train_service_code, toc_id = EXCLUDED.toc_id,
    auto_expected = EXCLUDED.auto_expected, direction_ind = EXCLUDED.direction_ind,
    route = EXCLUDED.route, next_report_stanox = EXCLUDED.next_report_stanox,
    line_ind = EXCLUDED.line_ind, variation = EXCLUDED.variation,
    late_ind = EXCLUDED.late_ind, platform_text = EXCLUDED.platform_text,
    extra_fields = EXCLUDED.extra_fields;
