-- After a run (not timed): what it left behind, on one line
--   rows|dead_letters|md5_key|md5_full|md5_counts|counted
-- md5_key:    key columns, actual_timestamp and variation_status of every row
-- md5_full:   every column of rail.movements except ingested_at (so the
--             derived and enrichment columns too)
-- md5_counts: rail.daily_movement_counts ('' when the triggers were off)
-- counted:    sum of the daily counts
-- The baseline and rail_stream must leave identical lines.
\set ON_ERROR_STOP on
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET extra_float_digits = 1;
SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols
FROM pg_attribute
WHERE attrelid = 'rail.movements'::regclass AND attnum > 0
  AND NOT attisdropped AND attname <> 'ingested_at' \gset
SELECT (SELECT count(*) FROM rail.movements),
       (SELECT count(*) FROM rail_stream.dead_letters),
       (SELECT md5(string_agg(concat_ws('|', train_id, planned_event_type, loc_stanox,
                                        actual_timestamp, variation_status), ','
                              ORDER BY train_id, planned_event_type, loc_stanox))
        FROM rail.movements),
       (SELECT md5(string_agg(ROW(:cols)::text, E'\n'
                              ORDER BY train_id, planned_event_type, loc_stanox))
        FROM rail.movements),
       (SELECT coalesce(md5(string_agg(concat_ws('|', day, toc_id, variation_status, movements), ','
                                       ORDER BY day, toc_id, variation_status)), '')
        FROM rail.daily_movement_counts),
       (SELECT coalesce(sum(movements), 0) FROM rail.daily_movement_counts);
