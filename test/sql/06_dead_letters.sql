-- Bad input never raises and is never lost: each bad message lands in
-- rail_stream.dead_letters with a useful error, and good messages in the
-- same transaction land.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
TRUNCATE rail_stream.dead_letters;

\set good '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"GOOD000001","planned_event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"ON TIME","timetable_variation":"0","toc_id":"20"}}]'
\set good2 '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"GOOD000002","planned_event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"ON TIME","timetable_variation":"0","toc_id":"20"}}]'

BEGIN;
SELECT rail_stream.ingest_message('trust', :'good') AS good;
-- 1. truncated JSON
SELECT rail_stream.ingest_message('trust', left(:'good', 60), 'truncated');
-- 2. not an array
SELECT rail_stream.ingest_message('trust', '{"header":{}}', 'not-array');
-- 3. invalid UTF-8 (raw bytes, as a Kafka message may hold)
SELECT rail_stream.ingest_message('trust', '\x5b7b22686561646572223a7b226d73675f74797065223a22ff227d7d5d'::bytea, 'bad-utf8');
-- 4. a NUL byte, raw and as the escape \u0000
SELECT rail_stream.ingest_message('trust', '\x5b7b7d00205d'::bytea, 'nul-byte');
SELECT rail_stream.ingest_message('trust', replace(:'good', 'GOOD000001', 'BAD\u0000001'), 'nul-escape');
-- 5. wrong field types
SELECT rail_stream.ingest_message('trust', replace(:'good', '"timetable_variation":"0"', '"timetable_variation":"five"'), 'bad-int');
SELECT rail_stream.ingest_message('trust', replace(:'good', '"loc_stanox":"17132"', '"loc_stanox":{"code":17132}'), 'object-field');
SELECT rail_stream.ingest_message('trust', replace(:'good', '"actual_timestamp":"1722162000000"', '"actual_timestamp":"yesterday"'), 'bad-time');
-- 6. unknown msg_type
SELECT rail_stream.ingest_message('trust', replace(:'good', '"0003"', '"0004"'), 'msg-0004');
-- 7. a 10 MB message
SELECT rail_stream.ingest_message('trust', '[' || repeat(' ', 10 * 1024 * 1024) || ']', 'ten-mb');
-- 8. empty value
SELECT rail_stream.ingest_message('trust', '', 'empty');
-- 9. deeply nested JSON
SELECT rail_stream.ingest_message('trust', repeat('[', 5000) || repeat(']', 5000), 'deep');
-- 10. missing key fields
SELECT rail_stream.ingest_message('trust', replace(:'good', '"train_id":"GOOD000001",', ''), 'no-train-id');
-- 11. a CIF record of no known kind, and a CIF time that is no time
SELECT rail_stream.ingest_message('cif', '{"JsonTrainV9":{}}', 'cif-unknown');
SELECT rail_stream.ingest_message('cif', '{"JsonScheduleV1":{"CIF_train_uid":"X00001","schedule_start_date":"2018-07-01","CIF_stp_indicator":"P","transaction_type":"Create","schedule_segment":{"schedule_location":[{"location_type":"LO","tiploc_code":"LEEDS","departure":"2575"}]}}}', 'cif-bad-time');
-- 12. a tombstone where the feed has no keys
SELECT rail_stream.ingest_message('trust', NULL::text, 'tombstone');
SELECT rail_stream.ingest_message('trust', :'good2') AS good2;
COMMIT;

-- Both good messages landed, next to the bad ones: each bad message once,
-- in the order sent.
SELECT train_id FROM rail.movements WHERE train_id LIKE 'GOOD%' ORDER BY 1;
SELECT array_agg(key ORDER BY id)
       = ARRAY['truncated', 'not-array', 'bad-utf8', 'nul-byte', 'nul-escape', 'bad-int',
               'object-field', 'bad-time', 'msg-0004', 'ten-mb', 'empty', 'deep',
               'no-train-id', 'cif-unknown', 'cif-bad-time', 'tombstone']
       AS each_bad_message_kept_once
FROM rail_stream.dead_letters;
SELECT key, sqlstate, error_message, error_detail, length(value) AS bytes,
       message_index, message_count
FROM rail_stream.dead_letters ORDER BY id;
-- Of the message over rail_stream.max_message_size only the first
-- rail_stream.dead_letter_max_size (64 kB) is kept, with the whole one's
-- length and SHA-256; every other dead letter is whole.
SELECT key, length(value) AS kept, value_length,
       value_sha256 = sha256(convert_to('[' || repeat(' ', 10 * 1024 * 1024) || ']', 'UTF8')) AS hash_of_whole
FROM rail_stream.dead_letters WHERE key = 'ten-mb';
SELECT count(*) AS whole_and_hashed FROM rail_stream.dead_letters
WHERE key <> 'ten-mb' AND value_length = length(value) AND value_sha256 = sha256(value);
SELECT key, written_as FROM rail_stream.dead_letters WHERE key IN ('ten-mb', 'empty');
-- The raw bytes are kept exactly (here, the invalid UTF-8 and the NUL).
SELECT key, value FROM rail_stream.dead_letters WHERE key IN ('bad-utf8', 'nul-byte') ORDER BY id;

-- One bad train message in a frame of three: the other two land, and the
-- dead letter holds that train message alone, with its position.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003"},"body":{"train_id":"FRAME00001","planned_event_type":"ARRIVAL","loc_stanox":"17132","toc_id":"20"}},
      {"header":{"msg_type":"0003"},"body":{"train_id":"FRAME00002","planned_event_type":"ARRIVAL","loc_stanox":"17132","next_report_run_time":"x"}},
      {"header":{"msg_type":"0003"},"body":{"train_id":"FRAME00003","planned_event_type":"ARRIVAL","loc_stanox":"17132","toc_id":"20"}}]',
    'frame') AS written;
SELECT train_id FROM rail.movements WHERE train_id LIKE 'FRAME%' ORDER BY 1;
SELECT message_index, message_count, error_message, error_context,
       convert_from(value, 'UTF8')::jsonb->'body'->>'train_id' AS train_id
FROM rail_stream.dead_letters WHERE key = 'frame';

-- A rolled-back transaction keeps no dead letter either.
BEGIN;
SELECT rail_stream.ingest_message('trust', 'nonsense', 'rolled-back');
ROLLBACK;
SELECT count(*) FROM rail_stream.dead_letters WHERE key = 'rolled-back';

-- A wrong feed name is the caller's mistake: it raises.
SELECT rail_stream.ingest_message('trains', :'good');
SELECT rail_stream.ingest_message('json:no_such_table', '{}');
SELECT rail_stream.ingest_message(NULL, :'good');
