-- The VSTP feed: very short term plans create, overlay and delete
-- schedules in real time, in the tables that CIF fills, so that later
-- activations find them.  And the Kafka metadata columns of a json: feed.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
-- the CIF extract (permanent schedule W65870, which VSTP overlays) and the
-- location master (names of origins and destinations)
\i test/sql/fixtures/cif.sql
\i test/sql/fixtures/locations.sql
TRUNCATE rail_stream.dead_letters;

-- data/vstp/vstp_samples.ndjson, one VSTP message per line, read raw (as
-- the CIF fixture reads its extract): a create, an overlay, a delete and
-- an STP cancellation, in that order
CREATE TEMP TABLE vstp_lines (n serial, line text);
\copy vstp_lines (line) FROM 'data/vstp/vstp_samples.ndjson' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
CREATE TEMP VIEW vstp AS
SELECT n, line::jsonb #> '{VSTPCIFMsgV1,schedule}' AS s,
       (line::jsonb #>> '{VSTPCIFMsgV1,schedule,CIF_train_uid}') || '/'
           || (line::jsonb #>> '{VSTPCIFMsgV1,schedule,schedule_start_date}') || '/'
           || (line::jsonb #>> '{VSTPCIFMsgV1,schedule,CIF_stp_indicator}') AS schedule_key,
       jsonb_array_length(line::jsonb #> '{VSTPCIFMsgV1,schedule,schedule_segment,0,schedule_location}')
           AS locations
FROM vstp_lines;
SELECT n, s->>'transaction_type' AS transaction_type, schedule_key, locations FROM vstp ORDER BY n;
CREATE TEMP TABLE cif_schedules AS SELECT count(*) AS n FROM rail.schedules;

-- 1. The create: a new schedule, its key the UID as VSTP gives it (a space
-- and five digits), its calling points in order with HHMMSS times.
SELECT rail_stream.ingest_message('vstp', line) AS rows_written FROM vstp_lines WHERE n = 1;
SELECT schedule_key, train_uid, stp_indicator, transaction_type, schedule_start_date,
       schedule_end_date, train_status_desc, atoc_code, signalling_id, power_type_desc,
       speed, bank_holiday_running, num_stops, origin_tiploc, origin_departure,
       origin_public_departure, origin_platform, destination_tiploc,
       destination_arrival, destination_public_arrival, origin_name, destination_name
FROM rail.schedules WHERE schedule_key = ' 31426/2018-07-07/N';
SELECT seq, location_type, tiploc_code, arrival, departure, pass, public_arrival,
       public_departure, platform
FROM rail.schedule_locations WHERE schedule_key = ' 31426/2018-07-07/N' ORDER BY seq;
-- as many calling points as the message, under the key read from the JSON
SELECT (SELECT count(*) FROM rail.schedule_locations l JOIN vstp v USING (schedule_key)
        WHERE v.n = 1) = (SELECT locations FROM vstp WHERE n = 1) AS all_calling_points,
       (SELECT count(*) FROM rail.schedules) = (SELECT n + 1 FROM cif_schedules)
           AS one_schedule_more;

-- An activation of the VSTP train (schedule_source V, as TRUST sends it
-- under the same UID) and its first movement take the VSTP schedule.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0001","msg_queue_timestamp":"1530997800000"},
       "body":{"train_id":"871Z42MV07","train_uid":" 31426","schedule_type":"N",
               "schedule_start_date":"2018-07-07","schedule_end_date":"2018-07-07",
               "sched_origin_stanox":"87201","toc_id":"81","schedule_source":"V",
               "creation_timestamp":"1530997800000"}},
      {"header":{"msg_type":"0003","msg_queue_timestamp":"1531001760000"},
       "body":{"train_id":"871Z42MV07","planned_event_type":"DEPARTURE",
               "event_type":"DEPARTURE","loc_stanox":"87201",
               "actual_timestamp":"1531001760000","variation_status":"LATE",
               "timetable_variation":"1","toc_id":"81"}}]') AS rows_written;
SELECT schedule_key, stp_indicator, schedule_source FROM rail.activations
WHERE train_id = '871Z42MV07';
SELECT schedule_key, power_type, train_category, origin_name, origin_public_departure,
       destination_name, destination_public_arrival, schedule_num_stops
FROM rail.movements WHERE train_id = '871Z42MV07';
SELECT count(*) = 1 AS movement_enriched_from_vstp
FROM rail.movements m JOIN vstp v ON v.n = 1 AND m.schedule_key = v.schedule_key
WHERE m.schedule_num_stops = v.locations;

-- 2. The overlay of the permanent W65870 for one Saturday: a schedule of
-- its own (STP O) beside the permanent one, which is untouched.
SELECT rail_stream.ingest_message('vstp', line) AS rows_written FROM vstp_lines WHERE n = 2;
SELECT schedule_key, num_stops, origin_tiploc, origin_departure, destination_tiploc,
       destination_arrival, destination_name
FROM rail.schedules WHERE train_uid = 'W65870' ORDER BY schedule_key;
SELECT (SELECT count(*) FROM rail.schedule_locations l JOIN vstp v USING (schedule_key)
        WHERE v.n = 2) = (SELECT locations FROM vstp WHERE n = 2) AS all_calling_points,
       (SELECT count(*) FROM rail.schedule_locations WHERE schedule_key = 'W65870/2018-05-26/P')
           = (SELECT jsonb_array_length(line::jsonb #> '{JsonScheduleV1,schedule_segment,schedule_location}')
              FROM cif_lines WHERE line LIKE '{"JsonScheduleV1":{%"CIF_train_uid":"W65870"%'
                AND line::jsonb #>> '{JsonScheduleV1,CIF_stp_indicator}' = 'P')
           AS permanent_untouched;
-- that day's activation names the overlay (schedule_type "P" in the feed
-- means an overlay, "O"), and its movement takes the overlay's terminus
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0001","msg_queue_timestamp":"1530950400000"},
       "body":{"train_id":"981M31MV07","train_uid":"W65870","schedule_type":"P",
               "schedule_start_date":"2018-07-07","schedule_end_date":"2018-07-07",
               "sched_origin_stanox":"87980","toc_id":"81","schedule_source":"V",
               "creation_timestamp":"1530950400000"}},
      {"header":{"msg_type":"0003","msg_queue_timestamp":"1530954000000"},
       "body":{"train_id":"981M31MV07","planned_event_type":"DEPARTURE",
               "event_type":"DEPARTURE","loc_stanox":"87980",
               "actual_timestamp":"1530954000000","variation_status":"ON TIME",
               "timetable_variation":"0","toc_id":"81"}}]') AS rows_written;
SELECT schedule_key, origin_name, destination_name, destination_public_arrival,
       schedule_num_stops
FROM rail.movements WHERE train_id = '981M31MV07';

-- Written again (Kafka delivers at least once to a reader that is not
-- rail_stream), a schedule is the same: calling points replaced, not added.
SELECT rail_stream.ingest_message('vstp', line) AS rows_written FROM vstp_lines WHERE n = 2;
SELECT count(*) = (SELECT locations FROM vstp WHERE n = 2) AS calling_points_replaced
FROM rail.schedule_locations WHERE schedule_key = 'W65870/2018-07-07/O';

-- 3. The delete: the VSTP schedule goes, with its calling points.
SELECT rail_stream.ingest_message('vstp', line) AS rows_written FROM vstp_lines WHERE n = 3;
SELECT (SELECT count(*) FROM rail.schedules s JOIN vstp v USING (schedule_key) WHERE v.n = 3) = 0
           AS schedule_deleted,
       (SELECT count(*) FROM rail.schedule_locations l JOIN vstp v USING (schedule_key)
        WHERE v.n = 3) = 0 AS calling_points_deleted;

-- 4. An STP cancellation: a schedule without calling points.
SELECT rail_stream.ingest_message('vstp', line) AS rows_written FROM vstp_lines WHERE n = 4;
SELECT schedule_key, num_stops, power_type, origin_tiploc
FROM rail.schedules WHERE schedule_key = (SELECT schedule_key FROM vstp WHERE n = 4);
-- all told: the CIF extract, the overlay and the cancellation
SELECT (SELECT count(*) FROM rail.schedules) = (SELECT n + 2 FROM cif_schedules)
           AS schedules_after_all;
SELECT count(*) AS dead_letters_so_far FROM rail_stream.dead_letters;

-- Bad VSTP input becomes a dead letter with a clear error; good messages
-- around it land.
SELECT rail_stream.ingest_message('vstp', '{"JsonScheduleV1":{}}', 'not-vstp');
SELECT rail_stream.ingest_message('vstp', '{"VSTPCIFMsgV1":{"timestamp":"1530914405000"}}', 'no-schedule');
SELECT rail_stream.ingest_message('vstp', replace(line, '"CIF_stp_indicator":"N"', '"CIF_stp_indicator":" "'), 'no-stp')
FROM vstp_lines WHERE n = 1;
SELECT rail_stream.ingest_message('vstp', replace(line, '"221500"', '"2215"'), 'hhmm-is-fine')
FROM vstp_lines WHERE n = 1;
SELECT rail_stream.ingest_message('vstp', replace(line, '"222530"', '"226530"'), 'bad-time')
FROM vstp_lines WHERE n = 1;
SELECT rail_stream.ingest_message('vstp', replace(line, '{"tiploc":{"tiploc_id":"GTWK"}}', '{}'), 'no-tiploc')
FROM vstp_lines WHERE n = 1;
SELECT rail_stream.ingest_message('vstp', replace(line, '"schedule_segment":[', '"schedule_segment":[{},'), 'two-segments')
FROM vstp_lines WHERE n = 1;
SELECT key, feed, error_message, error_detail, sqlstate
FROM rail_stream.dead_letters ORDER BY id;
-- the good one (HHMM is read too) recreated the deleted schedule
SELECT origin_departure FROM rail.schedules WHERE schedule_key = ' 31426/2018-07-07/N';
-- VSTP takes no options, and names its tables
SELECT rail_stream.ingest_message('vstp {"metadata": {}}', '{}');
SELECT tables, privileges FROM rail_stream._feed_tables('vstp');

-- Kafka metadata as columns of a json: feed's table.  Given to
-- ingest_message(), a message has no Kafka origin: only the key is set.
CREATE TABLE public.vstp_events (
    id          integer PRIMARY KEY,
    what        text,
    src_topic   text,
    src_part    integer,
    src_offset  bigint,
    src_time    timestamptz,
    src_key     text,
    src_headers jsonb
);
SELECT rail_stream._feed_name('json:vstp_events {"metadata": {"src_topic": "topic", "src_part": "partition", "src_offset": "offset", "src_time": "timestamp", "src_key": "key", "src_headers": "headers"}}') AS feed
\gset
SELECT :'feed' AS feed;
SELECT rail_stream.ingest_message(:'feed', '{"id": 1, "what": "first"}', 'k-1');
-- a member named like a metadata column does not fill it
SELECT rail_stream.ingest_message(:'feed', '{"id": 2, "what": "second", "src_key": "forged", "src_offset": 99}');
SELECT * FROM public.vstp_events ORDER BY id;
SELECT count(*) = 2 AS both_landed,
       count(*) FILTER (WHERE src_topic IS NULL AND src_part IS NULL AND src_offset IS NULL
                        AND src_time IS NULL AND src_headers IS NULL) = 2 AS no_kafka_origin
FROM public.vstp_events;
-- unknown metadata, a column that is not there, a feed that takes none
SELECT rail_stream._feed_name('json:vstp_events {"metadata": {"src_topic": "partition_key"}}');
SELECT rail_stream._feed_name('json:vstp_events {"metadata": {"nosuch": "offset"}}');
SELECT rail_stream._feed_name('json:vstp_events {"metadata": {"src_part": 7}}');
SELECT rail_stream._feed_name('json:vstp_events {"colour": "red"}');
SELECT rail_stream._feed_name('trust {"metadata": {"a": "offset"}}');
-- create_subscription takes it as an option, checked there, and keeps it
-- in the feed the worker reads
SELECT rail_stream.create_subscription('vstp_meta_bad', 'events', 'json:public.vstp_events',
    '127.0.0.1:9', '{"metadata": {"src_offset": "offsets"}}');
SELECT rail_stream.create_subscription('vstp_meta_bad', 'events', 'json:public.vstp_events',
    '127.0.0.1:9', '{"metadata": ["offset"]}');
SELECT rail_stream.create_subscription('vstp_meta', 'events', 'json:public.vstp_events',
    '127.0.0.1:9', '{"metadata": {"src_offset": "offset", "src_part": "partition"}}') > 0 AS created;
SELECT feed FROM rail_stream.subscriptions WHERE name = 'vstp_meta';
SELECT rail_stream.alter_subscription('vstp_meta', options => '{"metadata": {"src_topic": "topic"}}');
SELECT feed FROM rail_stream.subscriptions WHERE name = 'vstp_meta';
SELECT rail_stream.alter_subscription('vstp_meta', options => '{"metadata": {}}');
SELECT feed FROM rail_stream.subscriptions WHERE name = 'vstp_meta';
SELECT rail_stream.create_subscription('vstp_meta_twice', 'events', :'feed',
    '127.0.0.1:9', '{"metadata": {"src_offset": "offset"}}');
SELECT rail_stream.drop_subscription('vstp_meta');
DROP TABLE public.vstp_events;
