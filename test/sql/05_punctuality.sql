-- Daily punctuality, kept exactly once by the movement's own transaction,
-- and tumbling_window_counts over any table.
SET TimeZone = 'Europe/London';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
-- the TRUST samples, and the CIF samples' schedules for windows over them
\i test/sql/fixtures/trust.sql
\set cif_tiplocs off
\i test/sql/fixtures/cif.sql
-- and a movement of a TOC outside the view below, on a day of its own
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1530779400000"},
       "body":{"train_id":"872M31MV05","planned_event_type":"DEPARTURE",
               "event_type":"DEPARTURE","loc_stanox":"87219",
               "actual_timestamp":"1530780540000","variation_status":"LATE",
               "timetable_variation":"2","toc_id":"81"}}]') AS other_toc;

-- The maintained counts agree with counting the movements.
SELECT (SELECT array_agg(row(day, toc_id, variation_status, movements)::text
                         ORDER BY day, toc_id, variation_status)
        FROM rail.daily_movement_counts)
     = (SELECT array_agg(row(d, toc_id, variation_status, n)::text
                         ORDER BY d, toc_id, variation_status)
        FROM (SELECT (actual_timestamp AT TIME ZONE 'Europe/London')::date AS d,
                     toc_id, variation_status, count(*) AS n
              FROM rail.movements GROUP BY 1, 2, 3) g) AS counts_agree;

-- The talk's table: a row per day and status, a column per TOC.
SELECT * FROM rail.daily_punctuality ORDER BY day, variation_status;
SELECT rail_stream.create_punctuality_view('public.punctuality_south', ARRAY['88', '80', '29']);
SELECT * FROM public.punctuality_south ORDER BY day, variation_status;

-- A corrected movement updates its row and moves its count from ON TIME
-- to LATE; sending the correction again changes nothing.
CREATE TEMP VIEW corrected AS
SELECT variation_status, variation, correction_ind, event_source, movements_late, movements_on_time
FROM rail.movements m,
     LATERAL (SELECT coalesce(sum(movements) FILTER (WHERE variation_status = 'LATE'), 0)
                         AS movements_late,
                     coalesce(sum(movements) FILTER (WHERE variation_status = 'ON TIME'), 0)
                         AS movements_on_time
              FROM rail.daily_movement_counts c
              WHERE c.day = '2024-07-28' AND c.toc_id = '29') c
WHERE m.msg_key = '662P06ME28/DEPARTURE/65606';
SELECT * FROM corrected;
SELECT movements_late AS late_before, movements_on_time AS on_time_before FROM corrected \gset

\set correction '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158600000","source_system_id":"TRUST","original_data_source":"SDR"},"body":{"train_id":"662P06ME28","actual_timestamp":"1722162240000","loc_stanox":"65606","planned_timestamp":"1722162000000","planned_event_type":"DEPARTURE","event_type":"DEPARTURE","event_source":"MANUAL","correction_ind":"true","offroute_ind":"false","toc_id":"29","division_code":"29","timetable_variation":"4","variation_status":"LATE","train_terminated":"false","delay_monitoring_point":"false","reporting_stanox":"00000"}}]'
SELECT rail_stream.ingest_message('trust', :'correction') AS corrected;
SELECT rail_stream.ingest_message('trust', :'correction') AS corrected_again;
SELECT * FROM corrected;
SELECT movements_late = :late_before + 1 AND movements_on_time = :on_time_before - 1
       AS counted_once_as_late
FROM corrected;
SELECT count(*) FROM rail.movements WHERE train_id = '662P06ME28';

-- Deleting a movement takes its count away.
BEGIN;
SELECT sum(movements) AS total_before FROM rail.daily_movement_counts
WHERE day = '2024-07-28' AND toc_id = '29' \gset
DELETE FROM rail.movements WHERE msg_key = '662P06ME28/DEPARTURE/65606';
SELECT sum(movements), sum(movements) = :total_before - 1 AS one_less
FROM rail.daily_movement_counts WHERE day = '2024-07-28' AND toc_id = '29';
ROLLBACK;

-- Many messages in one transaction, each in a subtransaction of its own (as
-- ingest_message writes them), moving the same counts again and again, keys
-- with a NULL among them (no TOC, no status), and a correction of each: the
-- counts still agree with the movements.
BEGIN;
SELECT sum(rail_stream.ingest_message('trust', format(
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158600000"},
       "body":{"train_id":"999X%sMV28","planned_event_type":"ARRIVAL",
               "event_type":"ARRIVAL","loc_stanox":"87219",
               "actual_timestamp":"%s","timetable_variation":"%s"%s%s}}]',
    i % 7, 1722160000000 + i * 60000, i % 3,
    CASE WHEN i % 4 > 0 THEN format(',"toc_id":"%s"', 80 + i % 2) END,
    CASE WHEN i % 5 > 0 THEN format(',"variation_status":"%s"',
                                    CASE i % 3 WHEN 0 THEN 'ON TIME' ELSE 'LATE' END) END)))
    AS written
FROM generate_series(1, 40) i;
SELECT count(*) FILTER (WHERE toc_id IS NULL) > 0 AND count(*) FILTER (WHERE variation_status IS NULL) > 0
       AS null_keys
FROM rail.daily_movement_counts;
SAVEPOINT corrections;
UPDATE rail.movements SET variation_status = 'EARLY', toc_id = NULL
WHERE train_id LIKE '999X%' AND timetable_variation = '1';
RELEASE corrections;
SELECT (SELECT array_agg(row(day, toc_id, variation_status, movements)::text
                         ORDER BY day, toc_id, variation_status)
        FROM rail.daily_movement_counts)
     = (SELECT array_agg(row(d, toc_id, variation_status, n)::text
                         ORDER BY d, toc_id, variation_status)
        FROM (SELECT (actual_timestamp AT TIME ZONE 'Europe/London')::date AS d,
                     toc_id, variation_status, count(*) AS n
              FROM rail.movements GROUP BY 1, 2, 3) g) AS counts_agree;
ROLLBACK;

-- tumbling_window_counts agrees with a plain GROUP BY, by day, TOC and status.
SELECT (SELECT array_agg(row(window_start, window_end, group_values, count)::text
                         ORDER BY window_start, group_values)
        FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp',
                                                '1 day', '{toc_id,variation_status}'))
     = (SELECT array_agg(row(d, d + interval '1 day', ARRAY[toc_id, variation_status], n)::text
                         ORDER BY d, ARRAY[toc_id, variation_status])
        FROM (SELECT date_trunc('day', actual_timestamp) AS d, toc_id, variation_status,
                     count(*) AS n
              FROM rail.movements GROUP BY 1, 2, 3) g) AS windows_agree;

SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp',
                                                 '1 day', '{variation_status}');
-- 15-minute windows over one frame, with bounds; and no groups at all.
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp',
    '15 minutes', '{}', '2024-07-28 00:00', '2024-07-29 00:00');
SELECT * FROM rail_stream.tumbling_window_counts('rail.schedules', 'schedule_start_date',
    '7 days', '{stp_indicator}', '2018-06-25', '2018-07-09');
-- Days are UK calendar days: 2024-03-31 had 23 hours.
CREATE TEMP TABLE dst (t timestamptz);
INSERT INTO dst VALUES ('2024-03-30 23:30'), ('2024-03-31 00:30'), ('2024-03-31 23:30');
SELECT window_start, window_end - window_start AS length, count
FROM rail_stream.tumbling_window_counts('dst', 't', '1 day');

-- Bad arguments are clear errors.
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'no_such_column', '1 day');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp', '1 day', '{nope}');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'toc_id', '1 day');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp', '0 days');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp', '-1 hour');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp', '1 month');
-- (the name as text: PostgreSQL's own error then has no position in the
-- query, which versions may show differently)
SELECT * FROM rail_stream.tumbling_window_counts('rail.no_such_table'::text, 'actual_timestamp', '1 day');
SELECT * FROM rail_stream.tumbling_window_counts('rail.movements', 'actual_timestamp', NULL);
