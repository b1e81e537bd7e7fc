-- The SCHEDULE feed: one CIF record per message, as kcat puts each line of
-- the extract on CIF_FULL_DAILY.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

\i test/sql/fixtures/fresh.sql
-- One line per row, read raw into cif_lines and demo_lines; not loaded:
-- loading them is this file's test.
\set cif_extract off
\set cif_demo off
\i test/sql/fixtures/cif.sql
SELECT count(*) AS lines FROM cif_lines;

-- (in file order: the subquery orders the calls, not just their results)
SELECT sum(written) AS rows_written
FROM (SELECT rail_stream.ingest_message('cif', line) AS written FROM cif_lines ORDER BY n) s;

SELECT extract_timestamp, sequence, metadata_type, owner, sender_component
FROM rail.cif_headers;
SELECT count(*) AS tiplocs,
       count(*) = (SELECT count(*) FROM cif_lines WHERE line LIKE '{"TiplocV1"%')
           AS all_tiplocs_landed
FROM rail.tiplocs;
SELECT tiploc_code, transaction_type, nalco, stanox, crs_code, description,
       tps_description
FROM rail.tiplocs WHERE tiploc_code IN ('BURGESH', 'AACHEN', 'LEEDS')
ORDER BY tiploc_code;

-- One schedule per schedule record of the file, under its key: the keys
-- and calling points are read here from the JSON by PostgreSQL, not by the
-- feed's code, and the table must hold exactly those keys (EXCEPT ALL both
-- ways: a missing, extra or doubled key shows as a count).  Power types
-- decoded; STP cancellations have no calling points and no power type.
CREATE TEMP TABLE file_schedules AS
SELECT (s->>'CIF_train_uid') || '/' || (s->>'schedule_start_date') || '/'
           || (s->>'CIF_stp_indicator') AS schedule_key,
       jsonb_array_length(coalesce(s->'schedule_segment'->'schedule_location', '[]'))
           AS locations
FROM (SELECT line::jsonb->'JsonScheduleV1' AS s FROM cif_lines
      WHERE line LIKE '{"JsonScheduleV1"%') f;
SELECT (SELECT count(*) FROM rail.schedules) AS schedules,
       (SELECT count(*) FROM file_schedules) AS in_file,
       (SELECT count(*) FROM (SELECT schedule_key FROM file_schedules
                              EXCEPT ALL SELECT schedule_key FROM rail.schedules) d) AS missing,
       (SELECT count(*) FROM (SELECT schedule_key FROM rail.schedules
                              EXCEPT ALL SELECT schedule_key FROM file_schedules) d) AS not_in_file;
SELECT stp_indicator, power_type, power_type_desc, count(*),
       sum(num_stops) FILTER (WHERE num_stops = 0) AS no_stops
FROM rail.schedules GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT schedule_key, atoc_code, signalling_id, train_category, train_category_desc,
       seating_classes, speed, num_stops, origin_tiploc, origin_departure,
       origin_public_departure, origin_platform, destination_tiploc,
       destination_arrival, destination_public_arrival
FROM rail.schedules WHERE schedule_key = 'W65870/2018-05-26/P';
SELECT seq, location_type, tiploc_code, arrival, departure, pass,
       public_arrival, public_departure, platform, pathing_allowance
FROM rail.schedule_locations WHERE schedule_key = 'W65870/2018-05-26/P'
ORDER BY seq LIMIT 5;
-- Every schedule has as many calling points as its record in the file.
SELECT (SELECT count(*) FROM rail.schedule_locations) AS locations,
       (SELECT sum(num_stops) FROM rail.schedules) AS stops,
       (SELECT sum(locations) FROM file_schedules) AS in_file;
SELECT count(*) AS schedules_with_other_locations
FROM (SELECT schedule_key, locations FROM file_schedules
      EXCEPT
      SELECT s.schedule_key, count(l.schedule_key)
      FROM rail.schedules s LEFT JOIN rail.schedule_locations l USING (schedule_key)
      GROUP BY s.schedule_key) d;

-- Associations, and the demo's own sample with its bus and ECS schedules.
SELECT sum(written)
FROM (SELECT rail_stream.ingest_message('cif', line) AS written FROM demo_lines ORDER BY n) s;
SELECT count(*) AS associations FROM rail.associations;
SELECT main_train_uid, assoc_train_uid, assoc_start_date, assoc_end_date,
       category, date_indicator, location, stp_indicator
FROM rail.associations ORDER BY 1, 2, 3 LIMIT 3;
SELECT schedule_key, train_status, train_status_desc, power_type_desc,
       origin_tiploc, destination_tiploc, num_stops
FROM rail.schedules WHERE atoc_code = 'TP' ORDER BY schedule_key;

-- Delete transactions remove the row (and a schedule's calling points).
SELECT rail_stream.ingest_message('cif',
    '{"TiplocV1":{"transaction_type":"Delete","tiploc_code":"AACHEN"}}') AS tiploc_deleted;
SELECT rail_stream.ingest_message('cif',
    '{"JsonScheduleV1":{"CIF_train_uid":"W47142","schedule_start_date":"2018-07-01",'
    '"CIF_stp_indicator":"O","transaction_type":"Delete"}}') AS schedule_deleted;
SELECT count(*) AS tiplocs,
       count(*) = (SELECT count(*) FROM cif_lines WHERE line LIKE '{"TiplocV1"%') - 1
           AS one_tiploc_less
FROM rail.tiplocs;
SELECT count(*) AS schedules FROM rail.schedules
WHERE schedule_key = 'W47142/2018-07-01/O';
SELECT count(*) AS locations FROM rail.schedule_locations
WHERE schedule_key = 'W47142/2018-07-01/O';
-- and the EOF record writes nothing
SELECT rail_stream.ingest_message('cif', '{"EOF":true}') AS eof;
