-- The demo's load: the talk's sample data, through rail_stream.ingest_message,
-- the same transform and upsert path the Kafka workers use.
\set ON_ERROR_STOP on
\pset pager off
SET TimeZone = 'Europe/London';
SET DateStyle = 'ISO, YMD';

DROP EXTENSION IF EXISTS rail_stream CASCADE;
CREATE EXTENSION rail_stream;

\echo '== reference data: locations (CSV), TIPLOCs and schedules (CIF)'
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)
CREATE TEMP TABLE lines (n serial, line text);
\copy lines (line) FROM 'data/cif/cif_toc_full_GX_2018-07-02_seq2210_trimmed.ndjson' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
\copy lines (line) FROM 'data/cif/demo-scene_schedule_sample_2019-05-21.json' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
SELECT sum(rail_stream.ingest_message('cif', line) ORDER BY n) AS cif_rows FROM lines;

\echo '== TRUST frames'
\set f1 `cat data/trust/trust_frame_2024-07-28_matnich89_part1.json`
\set f2 `cat data/trust/trust_frame_2017-11-03_deadcore_part1.json`
\set f3 `cat data/trust/trust_examples_all_msg_types.json`
SELECT rail_stream.ingest_message('trust', :'f1') + rail_stream.ingest_message('trust', :'f2')
       + rail_stream.ingest_message('trust', :'f3') AS trust_rows;
-- and one bad message, which is kept rather than lost
SELECT rail_stream.ingest_message('trust', '[{"header":{"msg_type":"0003"},"body":{"train_id":"BAD"}}]', 'demo') AS bad_rows;
