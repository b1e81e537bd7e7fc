-- The talk's stream-table joins, done by triggers at insert time.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
-- the CIF samples (schedule W65870 below, named by the CIF's TIPLOCs)
\i test/sql/fixtures/cif.sql

-- The location master loads through rail.locations_csv.
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)
SELECT count(*) AS locations, count(tiploc) AS with_tiploc, count(stanox) AS with_stanox,
       count(latitude) AS with_lat_lon
FROM rail.locations;
-- every record of the file is a location (records counted by reading its
-- lines raw, as no field holds a line break)
CREATE TEMP TABLE csv_lines (line text);
\copy csv_lines FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER, DELIMITER E'\x02', QUOTE E'\x01')
SELECT (SELECT count(*) FROM rail.locations) = (SELECT count(*) FROM csv_lines)
       AS every_record_landed;
SELECT * FROM rail.locations_by_stanox WHERE stanox = '17132';

-- Reference tables filled at CREATE EXTENSION.
SELECT count(*) AS tocs FROM rail.tocs;
SELECT count(*) AS reasons FROM rail.cancellation_reasons;
-- as many as the files of data/reference hold (read raw: a record a line)
CREATE TEMP TABLE toc_lines (line text);
\copy toc_lines FROM 'data/reference/toc_codes.tsv' WITH (FORMAT csv, HEADER, DELIMITER E'\x02', QUOTE E'\x01')
CREATE TEMP TABLE canx_lines (line text);
\copy canx_lines FROM 'data/reference/canx_reason_code.dat' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
SELECT (SELECT count(*) FROM rail.tocs) = (SELECT count(*) FROM toc_lines) AS every_toc_code,
       (SELECT count(*) FROM rail.cancellation_reasons) = (SELECT count(*) FROM canx_lines)
           AS every_reason;
SELECT t, rail_stream.toc_name(t)
FROM unnest(ARRAY['20', '23', '28', '61', '88', '14', '11', '00']) AS t;
SELECT count(*) AS sectors FROM rail.toc_sectors;

-- A movement at STANOX 17132 is at Leeds.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},
       "body":{"train_id":"171T53MS28","planned_event_type":"ARRIVAL",
               "event_type":"ARRIVAL","loc_stanox":"17132",
               "actual_timestamp":"1722162000000","planned_timestamp":"1722161700000",
               "variation_status":"LATE","timetable_variation":"5",
               "toc_id":"20","platform":" 8"}}]');
SELECT loc_name, loc_tiploc, loc_crs, loc_lat, loc_lon, toc_name, variation,
       platform_text, schedule_key
FROM rail.movements WHERE train_id = '171T53MS28';

-- Through its activation a movement finds its schedule.  The activation is
-- the wiki's example re-pointed at schedule W65870 of the CIF extract
-- (schedule_type "O" in the feed means permanent, "P").
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0001","msg_queue_timestamp":"1530777600000"},
       "body":{"train_id":"872M31MV05","train_uid":"W65870","schedule_type":"O",
               "schedule_start_date":"2018-05-26","schedule_end_date":"2018-12-08",
               "sched_origin_stanox":"87219","toc_id":"81","schedule_source":"C",
               "creation_timestamp":"1530777600000"}},
      {"header":{"msg_type":"0003","msg_queue_timestamp":"1530779400000"},
       "body":{"train_id":"872M31MV05","planned_event_type":"DEPARTURE",
               "event_type":"DEPARTURE","loc_stanox":"87219",
               "actual_timestamp":"1530780540000","variation_status":"LATE",
               "timetable_variation":"2","toc_id":"81"}}]');
SELECT schedule_key, stp_indicator, sched_origin_name, sched_origin_tiploc, toc_name
FROM rail.activations WHERE train_id = '872M31MV05';
SELECT loc_name, schedule_key, train_uid, power_type, train_category,
       origin_name, origin_public_departure, destination_name,
       destination_public_arrival, schedule_num_stops
FROM rail.movements WHERE train_id = '872M31MV05';
SELECT schedule_key, origin_name, destination_name, origin_lat IS NOT NULL AS located
FROM rail.schedules WHERE schedule_key = 'W65870/2018-05-26/P';

-- A cancellation gets its reason text and location.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0002","msg_queue_timestamp":"1722158477000"},
       "body":{"train_id":"171T53MS28","loc_stanox":"17132",
               "canx_timestamp":"1722162000000","canx_reason_code":"TG",
               "canx_type":"EN ROUTE","toc_id":"20"}}]');
SELECT loc_name, canx_reason, canx_abbrev, toc_name FROM rail.cancellations
WHERE train_id = '171T53MS28';
