-- The TRUST feed: real frames in, typed rows out.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
-- the samples, not loaded: loading them is this file's test
\set trust_load off
\i test/sql/fixtures/trust.sql

-- explode_movements: bare array, ActiveMQ envelope, its Avro-JSON rendering,
-- and jsonb input all give the same rows.
SELECT count(*), count(DISTINCT body->>'train_id'), min(msg_type), max(msg_type)
FROM rail_stream.explode_movements(:'frame_2024');
SELECT count(*) FROM rail_stream.explode_movements(
    jsonb_build_object('messageType', 'text', 'text', :'frame_2024')::text);
SELECT count(*) FROM rail_stream.explode_movements(
    jsonb_build_object('text', jsonb_build_object('string', :'frame_2017'))::text);
SELECT count(*) FROM rail_stream.explode_movements(
    jsonb_build_object('text', :'frame_2017'));
SELECT count(*) FROM rail_stream.explode_movements(:'frame_2017'::jsonb);
-- the same as the plain-SQL way of the benchmark
SELECT (SELECT array_agg(e ORDER BY n) FROM jsonb_array_elements(:'examples'::jsonb)
            WITH ORDINALITY AS x(e, n))
     = (SELECT array_agg(jsonb_build_object('header', header, 'body', body))
        FROM rail_stream.explode_movements(:'examples')) AS same_as_jsonb;
SELECT msg_type, header->>'original_data_source' AS source, body->>'train_id' AS train_id
FROM rail_stream.explode_movements(:'examples');

-- Both frames and the seven example messages land.
SELECT rail_stream.ingest_message('trust', :'frame_2024') AS rows_2024;
SELECT rail_stream.ingest_message('trust',
    jsonb_build_object('text', :'frame_2017')::text) AS rows_2017;
SELECT rail_stream.ingest_message('trust', :'examples') AS rows_examples;

SELECT 'activations' AS t, count(*) FROM rail.activations
UNION ALL SELECT 'cancellations', count(*) FROM rail.cancellations
UNION ALL SELECT 'movements', count(*) FROM rail.movements
UNION ALL SELECT 'reinstatements', count(*) FROM rail.reinstatements
UNION ALL SELECT 'changes_of_origin', count(*) FROM rail.changes_of_origin
UNION ALL SELECT 'changes_of_identity', count(*) FROM rail.changes_of_identity
UNION ALL SELECT 'changes_of_location', count(*) FROM rail.changes_of_location;
-- each message of the samples is a row of its type's table, against the
-- messages that PostgreSQL counts in the JSON (movements by their key)
SELECT (SELECT count(*) FROM rail.activations) = :trust_0001 AS all_activations_landed,
       (SELECT count(*) FROM rail.cancellations) = :trust_0002 AS all_cancellations_landed,
       (SELECT count(*) FROM rail.movements) = :trust_movements AS all_movements_landed,
       (SELECT count(*) FROM rail.reinstatements) = :trust_0005 AS all_reinstatements_landed,
       (SELECT count(*) FROM rail.changes_of_origin) = :trust_0006 AS all_changes_of_origin_landed,
       (SELECT count(*) FROM rail.changes_of_identity) = :trust_0007 AS all_changes_of_identity_landed,
       (SELECT count(*) FROM rail.changes_of_location) = :trust_0008 AS all_changes_of_location_landed;

-- Statuses per frame match the data's README (6/5/5 in each).
SELECT date_part('year', actual_timestamp) AS year, variation_status, count(*)
FROM rail.movements GROUP BY 1, 2 ORDER BY 1, 2;

-- 2024 (BST): the event time is an hour before its wall-clock value, and
-- close to the queue time; omitted fields are NULL; GPS data is kept.
SELECT train_id, actual_timestamp, actual_timestamp_ms, msg_queue_timestamp,
       actual_timestamp - msg_queue_timestamp AS lead,
       timetable_variation, variation, late_ind, platform, platform_text,
       gbtt_timestamp IS NULL AS no_gbtt, current_train_id, line_ind,
       correction_ind, train_terminated, offroute_ind, msg_key
FROM rail.movements WHERE date_part('year', actual_timestamp) = 2024
ORDER BY train_id, loc_stanox, planned_event_type LIMIT 6;
SELECT original_data_source, user_id, count(*) FROM rail.movements
WHERE date_part('year', actual_timestamp) = 2024 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT max(abs(extract(epoch FROM actual_timestamp - msg_queue_timestamp))) < 3600
       AS bst_converted
FROM rail.movements WHERE date_part('year', actual_timestamp) = 2024;

-- 2017 (GMT): empty strings are NULL, train_file_address null is NULL.
SELECT train_id, actual_timestamp, original_loc_stanox, current_train_id,
       platform, platform_text, train_file_address, line_ind, source_dev_id,
       delay_monitoring_point, next_report_run_time, toc_id, toc_name
FROM rail.movements WHERE date_part('year', actual_timestamp) = 2017
  AND msg_queue_timestamp_ms = 1509718652000
ORDER BY train_id, loc_stanox LIMIT 4;

-- Each example message in its table, typed.
SELECT train_id, train_uid, schedule_type, stp_indicator, schedule_key,
       schedule_start_date, schedule_end_date, tp_origin_timestamp,
       origin_dep_timestamp, creation_timestamp, toc_name, sched_origin_stanox
FROM rail.activations;
SELECT train_id, canx_type, canx_reason_code, canx_reason, canx_timestamp,
       dep_timestamp, orig_loc_stanox, orig_loc_timestamp, toc_name
FROM rail.cancellations;
SELECT train_id, reinstatement_timestamp, dep_timestamp, loc_stanox, toc_id
FROM rail.reinstatements;
SELECT train_id, coo_timestamp, reason_code, loc_stanox FROM rail.changes_of_origin;
SELECT train_id, revised_train_id, event_timestamp, train_file_address
FROM rail.changes_of_identity;
SELECT train_id, event_timestamp, loc_stanox, original_loc_stanox,
       original_loc_timestamp, dep_timestamp
FROM rail.changes_of_location;
SELECT train_id, user_id, source_dev_id, event_source, actual_timestamp,
       variation, schedule_key
FROM rail.movements WHERE msg_queue_timestamp_ms = 1511528232000;

-- Re-sending a frame writes nothing new: upserts on the talk's keys.
SELECT rail_stream.ingest_message('trust', :'frame_2024') AS rows_rewritten;
SELECT count(*), count(*) = :trust_movements AS no_movement_added FROM rail.movements;

-- ingest_messages writes many messages as a worker writes a batch: the
-- same rows and counts as ingest_message one message at a time, and a bad
-- message among them is kept alone in the dead letters, under its key.
CREATE TEMP TABLE one_by_one AS
SELECT to_jsonb(m) - 'ingested_at' AS movement FROM rail.movements m;
CREATE TEMP TABLE one_by_one_counts AS TABLE rail.daily_movement_counts;
TRUNCATE rail.activations, rail.cancellations, rail.movements,
    rail.reinstatements, rail.changes_of_origin, rail.changes_of_identity,
    rail.changes_of_location, rail.daily_movement_counts;
SELECT rail_stream.ingest_messages('trust',
    ARRAY[:'frame_2024', 'not json', :'frame_2017', :'examples'],
    ARRAY['f2024', 'in-a-batch', 'f2017', 'examples']) AS batch_rows,
       :trust_0001 + :trust_0002 + :trust_0003 + :trust_0005
           + :trust_0006 + :trust_0007 + :trust_0008 AS sample_messages;
SELECT (SELECT count(*) FROM rail.movements) = :trust_movements AS all_movements_landed,
       NOT EXISTS (SELECT to_jsonb(m) - 'ingested_at' FROM rail.movements m
                   EXCEPT SELECT movement FROM one_by_one) AS same_movements,
       NOT EXISTS (TABLE rail.daily_movement_counts EXCEPT TABLE one_by_one_counts)
       AND NOT EXISTS (TABLE one_by_one_counts EXCEPT TABLE rail.daily_movement_counts)
           AS same_counts;
SELECT key, sqlstate, error_message FROM rail_stream.dead_letters
WHERE feed = 'trust' ORDER BY id;
-- NULL messages are tombstones, as for ingest_message; an empty array
-- writes nothing; keys, if given, go one per message
SELECT rail_stream.ingest_messages('trust', ARRAY[NULL, convert_to(
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},
       "body":{"train_id":"999X99MB28","planned_event_type":"ARRIVAL",
               "loc_stanox":"17132","actual_timestamp":"1722162000000",
               "variation_status":"LATE","timetable_variation":"3",
               "toc_id":"61"}}]', 'UTF8')]) AS with_tombstone,
       rail_stream.ingest_messages('trust', '{}'::text[]) AS empty,
       rail_stream.ingest_messages('trust', NULL::text[]) AS null_array;
SELECT rail_stream.ingest_messages('trust', ARRAY['[]', '[]'], ARRAY['only-one']);
SELECT rail_stream.ingest_messages('trust', ARRAY[['[]'], ['[]']]);
SELECT rail_stream.ingest_messages(NULL, ARRAY['[]']);
DELETE FROM rail.movements WHERE train_id = '999X99MB28';

-- A field the feed may add one day is kept, not dropped.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},
       "body":{"train_id":"999X99MX28","planned_event_type":"ARRIVAL",
               "loc_stanox":"17132","actual_timestamp":"1722162000000",
               "variation_status":"LATE","timetable_variation":"7",
               "toc_id":"61","new_field":"kept"}}]');
SELECT train_id, variation, extra_fields FROM rail.movements
WHERE train_id = '999X99MX28';

-- TRUST writes 0 or -1 for a time it does not have: NULL, not 1970 or
-- 1969, with the raw value kept.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},
       "body":{"train_id":"999X99MX29","planned_event_type":"ARRIVAL",
               "loc_stanox":"17132","actual_timestamp":"1722162000000",
               "planned_timestamp":"0","gbtt_timestamp":"-1",
               "variation_status":"ON TIME","timetable_variation":"0",
               "toc_id":"61"}}]');
SELECT planned_timestamp, planned_timestamp_ms, gbtt_timestamp, gbtt_timestamp_ms
FROM rail.movements WHERE train_id = '999X99MX29';
DELETE FROM rail.movements WHERE train_id = '999X99MX29';
