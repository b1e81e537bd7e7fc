-- Late activations and schedules (sql/backfill.sql): a movement that came
-- before its train's activation, or before that activation's schedule, is
-- filled in when they come, in their transaction, with what it has when it
-- comes after them; its daily count and its alerts stay exactly once.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
-- the location master, the CIF samples (the Gatwick Express extract, and
-- the demo's bus from Leeds), and the TRUST samples in psql variables (not
-- loaded)
\i test/sql/fixtures/locations.sql
\i test/sql/fixtures/cif.sql
\set trust_load off
\i test/sql/fixtures/trust.sql

-- The train messages of the samples: the movements of both real frames,
-- and the wiki's movement and cancellation.
CREATE TEMP TABLE sample AS
SELECT row_number() OVER () AS n, m
FROM (SELECT jsonb_array_elements(:'frame_2024'::jsonb) UNION ALL
      SELECT jsonb_array_elements(:'frame_2017'::jsonb) UNION ALL
      SELECT jsonb_array_elements(:'examples'::jsonb)) f(m)
WHERE m #>> '{header,msg_type}' IN ('0002', '0003');
-- Their trains' activations: the wiki's real activation, given each
-- train's train_id and TOC, queued an hour before the train's first
-- message, and pointed at a permanent schedule of the CIF extract (the
-- feed's schedule_type "O" means permanent).  Every seventh train from the
-- third gets none; every seventh from the sixth keeps the wiki's own
-- schedule, C21373, which the extract does not have.
CREATE TEMP TABLE gx AS
SELECT row_number() OVER (ORDER BY schedule_key) AS i, s.*
FROM rail.schedules s WHERE s.atoc_code = 'GX' AND s.stp_indicator = 'P' AND s.num_stops > 0;
CREATE TEMP TABLE trains AS
SELECT row_number() OVER (ORDER BY min(n)) AS i, m #>> '{body,train_id}' AS train_id,
       min((m #>> '{header,msg_queue_timestamp}')::bigint) AS queued,
       min(m #>> '{body,toc_id}') AS toc_id
FROM sample GROUP BY 2;
CREATE TEMP TABLE activation AS
SELECT t.i, t.train_id,
       jsonb_set(jsonb_set(e.m, '{header,msg_queue_timestamp}', to_jsonb((t.queued - 3600000)::text)),
                 '{body}', e.m->'body' || jsonb_build_object(
                     'train_id', t.train_id, 'toc_id', t.toc_id,
                     'creation_timestamp', (t.queued - 3600000)::text)
                 || CASE WHEN t.i % 7 = 6 THEN '{}'::jsonb ELSE jsonb_build_object(
                     'train_uid', g.train_uid,
                     'schedule_start_date', g.schedule_start_date::text,
                     'schedule_end_date', g.schedule_end_date::text,
                     'schedule_type', 'O') END) AS m
FROM trains t
JOIN gx g ON g.i = 1 + t.i * 13 % (SELECT count(*) FROM gx)
CROSS JOIN (SELECT m FROM jsonb_array_elements(:'examples'::jsonb) x(m)
            WHERE m #>> '{header,msg_type}' = '0001') e
WHERE t.i % 7 <> 3;
SELECT (SELECT count(*) FROM sample) AS messages, (SELECT count(*) FROM trains) AS trains,
       (SELECT count(*) FROM activation) AS activated;
SELECT jsonb_agg(m ORDER BY n)::text AS movements_frame FROM sample \gset
SELECT jsonb_agg(m ORDER BY i)::text AS activations_frame FROM activation \gset
-- the schedules they name, and their CIF records
CREATE TEMP TABLE named AS
SELECT DISTINCT rail_stream.schedule_key(m #>> '{body,train_uid}', (m #>> '{body,schedule_start_date}')::date,
                                        rail_stream.correct_schedule_type(m #>> '{body,schedule_type}'))
           AS schedule_key
FROM activation;
CREATE TEMP TABLE named_cif AS
SELECT c.n, c.line
FROM cif_lines c, LATERAL (SELECT c.line::jsonb -> 'JsonScheduleV1' AS s) j
WHERE c.line LIKE '{"JsonScheduleV1"%'
  AND rail_stream.schedule_key(j.s->>'CIF_train_uid', (j.s->>'schedule_start_date')::date,
                               j.s->>'CIF_stp_indicator') IN (SELECT schedule_key FROM named);
SELECT count(*) AS schedules_named,
       (SELECT count(*) FROM named_cif) AS in_the_extract FROM named;

-- Delay alerts at the stations of the samples' late movements, by name,
-- CRS and STANOX, from 0 minutes.
SELECT count(rail_stream.add_alert_rule(station, 0)) AS rules
FROM unnest(ARRAY['Norbury', 'CRAWLEY', 'Haywards Heath', '65605', 'DFD', 'Chartham',
                  'CBW', '31033']) station;

-- What a user compares after each order of arrival: every column of every
-- movement and cancellation but ingested_at, the daily counts, the alerts.
CREATE TEMP TABLE result (run text, what text, k text, j jsonb);
CREATE TABLE public.bf_updates (n integer);
INSERT INTO public.bf_updates VALUES (0);
CREATE FUNCTION public.bf_count_update() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN
        IF EXISTS (SELECT FROM updated) THEN UPDATE public.bf_updates SET n = n + 1; END IF;
        RETURN NULL;
    END$$;
CREATE TRIGGER bf_count_update AFTER UPDATE ON rail.movements REFERENCING NEW TABLE AS updated
    FOR EACH STATEMENT EXECUTE FUNCTION public.bf_count_update();
CREATE PROCEDURE pg_temp.keep(run text) LANGUAGE sql AS $$
    INSERT INTO result
    SELECT run, 'movement', m.msg_key, to_jsonb(m) - 'ingested_at' FROM rail.movements m
    UNION ALL
    SELECT run, 'cancellation', concat_ws('/', c.train_id, c.canx_timestamp_ms, c.loc_stanox),
           to_jsonb(c) - 'ingested_at' FROM rail.cancellations c
    UNION ALL
    SELECT run, 'count', concat_ws('/', d.day, d.toc_id, d.variation_status), to_jsonb(d)
    FROM rail.daily_movement_counts d
    UNION ALL
    SELECT run, 'alert', r.station || '/' || a.msg_key,
           jsonb_build_object('message', a.message, 'state', a.state)
    FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id;
$$;
CREATE PROCEDURE pg_temp.reset() LANGUAGE sql AS $$
    TRUNCATE rail.movements, rail.cancellations, rail.activations,
             rail.daily_movement_counts, rail_stream.alerts;
    UPDATE public.bf_updates SET n = 0;
$$;
-- how far the movements are enriched, and how many statements updated
-- some (a user's statement trigger counts them): the back-fill runs one
-- per statement that brings what movements wait for, none otherwise
CREATE VIEW pg_temp.enriched AS
SELECT count(*) AS movements,
       count(*) FILTER (WHERE schedule_key = 'no_schedule_activation_found') AS waiting,
       count(train_uid) AS activated, count(schedule_num_stops) AS with_schedule,
       (SELECT n FROM public.bf_updates) AS updates
FROM rail.movements;

-- A. The order the talk assumes: schedules, activations, then movements.
SELECT rail_stream.ingest_message('trust', :'activations_frame') AS activations;
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS movements;
SELECT * FROM pg_temp.enriched;
CALL pg_temp.keep('A: activations first');

-- B. The activations come after the movements, in a transaction of their
-- own; the movements that waited are filled, their counts do not move and
-- no alert is raised twice.
CALL pg_temp.reset();
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS movements;
SELECT * FROM pg_temp.enriched;
SELECT count(*) AS alerts_before FROM rail_stream.alerts \gset
SELECT sum(movements) AS counted_before FROM rail.daily_movement_counts \gset
SELECT rail_stream.ingest_message('trust', :'activations_frame') AS activations;
SELECT * FROM pg_temp.enriched;
SELECT (SELECT count(*) FROM rail_stream.alerts) - :alerts_before AS new_alerts,
       (SELECT sum(movements) FROM rail.daily_movement_counts) - :counted_before AS counts_moved;
CALL pg_temp.keep('B: activations after');

-- C. Activations and schedules after the movements: first the activations
-- (the movements take their keys, and wait for the schedules), then the
-- schedules, from their CIF records.
CALL pg_temp.reset();
DELETE FROM rail.schedules s USING named n WHERE s.schedule_key = n.schedule_key;
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS movements;
SELECT rail_stream.ingest_message('trust', :'activations_frame') AS activations;
SELECT * FROM pg_temp.enriched;
SELECT sum(w) AS schedule_rows
FROM (SELECT rail_stream.ingest_message('cif', line) AS w FROM named_cif ORDER BY n) s;
SELECT * FROM pg_temp.enriched;
CALL pg_temp.keep('C: activations and schedules after');

-- D. Movements and activations in one frame, the activations last: one
-- transaction, where the sink writes each activation after the movements
-- of its train that came before it.
CALL pg_temp.reset();
SELECT rail_stream.ingest_message('trust',
    ((:'movements_frame')::jsonb || (:'activations_frame')::jsonb)::text) AS rows_written;
SELECT * FROM pg_temp.enriched;
CALL pg_temp.keep('D: one frame, activations last');
DROP TRIGGER bf_count_update ON rail.movements;
DROP FUNCTION public.bf_count_update();

-- Each order against A, column by column: the movements, cancellations,
-- counts and alerts missing on either side, and the values that differ.
SELECT o.run, o.what, count(DISTINCT coalesce(a.k, o.k)) FILTER (WHERE a.k IS NULL OR o.k IS NULL)
           AS missing,
       count(DISTINCT a.k) FILTER (WHERE o.k IS NOT NULL) AS compared,
       count(DISTINCT c.col) AS columns,
       count(*) FILTER (WHERE a.j -> c.col IS DISTINCT FROM o.j -> c.col) AS values_differing,
       string_agg(DISTINCT c.col, ', ') FILTER (WHERE a.j -> c.col IS DISTINCT FROM o.j -> c.col)
           AS columns_differing
FROM (SELECT * FROM result WHERE run LIKE 'A%') a
FULL JOIN (SELECT * FROM result WHERE run NOT LIKE 'A%') o USING (what, k)
LEFT JOIN LATERAL jsonb_object_keys(coalesce(a.j, o.j)) c(col) ON true
GROUP BY o.run, o.what ORDER BY 1, 2;
-- what that compared: the movements as every order leaves them
SELECT k AS msg_key, j->>'schedule_key' AS schedule_key, j->>'train_uid' AS uid,
       j->>'power_type' AS power, j->>'schedule_num_stops' AS stops,
       j->>'origin_name' AS origin, j->>'destination_public_arrival' AS arrives
FROM result WHERE run LIKE 'A%' AND what IN ('movement', 'cancellation') ORDER BY k;

-- The alerts raised before the activations came (B, C, D) are the same
-- alerts, not raised again, but keep what was known when they were
-- raised: no origin, and the train_id for the UID.
SELECT a.k AS rule_and_movement, a.j->>'message' AS activations_first,
       b.j->>'message' AS activations_after
FROM result a JOIN result b USING (what, k)
WHERE a.run LIKE 'A%' AND b.run LIKE 'B%' AND a.what = 'alert' ORDER BY 1;

-- Runs.  TRUST gives a train the same train_id on the same day of the next
-- month: an activation serves the messages of its train_id queued within
-- a week of it, whichever comes first.  541T28MN03's movement at Royston,
-- and one of the same train_id 28 days earlier (another run, elsewhere)
-- that never found its activation: this month's activation fills this
-- month's movement only.
CALL pg_temp.reset();
\set month_ms 2419200000
SELECT jsonb_build_array(jsonb_set(m, '{header,msg_queue_timestamp}',
           to_jsonb(((m #>> '{header,msg_queue_timestamp}')::bigint - :month_ms)::text)))::text
           AS last_month_activation,
       jsonb_build_array(m)::text AS this_month_activation
FROM activation WHERE train_id = '541T28MN03' \gset
SELECT jsonb_build_array(m)::text AS this_month_movement,
       jsonb_build_array(jsonb_set(jsonb_set(m, '{header,msg_queue_timestamp}',
           to_jsonb(((m #>> '{header,msg_queue_timestamp}')::bigint - :month_ms)::text)),
           '{body,loc_stanox}', '"53011"'))::text AS last_month_movement,
       jsonb_build_array(jsonb_set(m, '{body,loc_stanox}', '"52080"'))::text AS next_movement
FROM sample WHERE m #>> '{body,train_id}' = '541T28MN03' \gset
SELECT rail_stream.ingest_message('trust', :'last_month_movement') AS last_month,
       rail_stream.ingest_message('trust', :'this_month_movement') AS this_month,
       rail_stream.ingest_message('trust', :'this_month_activation') AS this_month_activation;
SELECT msg_key, msg_queue_timestamp, schedule_key, schedule_num_stops FROM rail.movements
ORDER BY msg_queue_timestamp, msg_key;
-- Last month's activation, replayed late, takes the train_id's row: it
-- fills its own run's movement, and does not serve a movement of this
-- month that comes now, which waits for this month's activation.
SELECT rail_stream.ingest_message('trust', :'last_month_activation') AS last_month_activation,
       rail_stream.ingest_message('trust', :'next_movement') AS this_month_next;
SELECT msg_key, msg_queue_timestamp, schedule_key, schedule_num_stops FROM rail.movements
ORDER BY msg_queue_timestamp, msg_key;

-- A rule added while a movement waits alerts when the activation fills the
-- movement in, as it would on a correction: once.
CALL pg_temp.reset();
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS movements;
SELECT rail_stream.add_alert_rule('RYS', 0) AS royston \gset
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS sent_again;
SELECT count(*) AS royston_alerts FROM rail_stream.alerts WHERE rule_id = :royston;
SELECT rail_stream.ingest_message('trust', :'activations_frame') AS activations;
SELECT msg_key, message FROM rail_stream.alerts WHERE rule_id = :royston;
SELECT rail_stream.ingest_message('trust', :'activations_frame') AS sent_again;
SELECT count(*) AS royston_alerts FROM rail_stream.alerts WHERE rule_id = :royston;
SELECT rail_stream.drop_alert_rule(:royston);

-- A train that starts at a rule's station does not alert there, which only
-- its schedule tells (the demo's bus N41220 from Leeds).  Written before
-- its activation, its late departure alerts at once, from "an unknown
-- origin"; the activation fills the movement in and adds no alert.
CALL pg_temp.reset();
SELECT rail_stream.add_alert_rule('LEEDS', 45) AS leeds \gset
\set bus_activation '[{"header":{"msg_type":"0001","msg_queue_timestamp":"1566460800000"},"body":{"train_id":"17N41222","train_uid":"N41220","schedule_type":"N","schedule_start_date":"2019-08-22","sched_origin_stanox":"17132","toc_id":"20"}}]'
\set bus_departure '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1566464400000"},"body":{"train_id":"17N41222","planned_event_type":"DEPARTURE","event_type":"DEPARTURE","loc_stanox":"17132","actual_timestamp":"1566468000000","variation_status":"LATE","timetable_variation":"60","toc_id":"20"}}]'
SELECT rail_stream.ingest_message('trust', :'bus_activation') + rail_stream.ingest_message('trust', :'bus_departure')
    AS activation_first;
SELECT count(*) AS alerts FROM rail_stream.alerts WHERE rule_id = :leeds;
CALL pg_temp.reset();
SELECT rail_stream.ingest_message('trust', :'bus_departure') AS departure_first;
SELECT rail_stream.ingest_message('trust', :'bus_activation') AS activation;
SELECT origin_tiploc, loc_tiploc, schedule_key FROM rail.movements WHERE train_id = '17N41222';
SELECT message FROM rail_stream.alerts WHERE rule_id = :leeds;
SELECT rail_stream.drop_alert_rule(:leeds);

-- Privileges.  The back-fill is the UPDATE of rail.movements that the role
-- writing the activation or the schedule could run itself: a role that
-- may not update movements fills none (and its activation is written),
-- and row-level security keeps a role to the movements it may update.
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE rail_stream_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DROP ROLE IF EXISTS bf_activator;  -- left by an earlier run (roles outlive databases)
DROP ROLE IF EXISTS bf_south;
DROP ROLE IF EXISTS bf_cif;
DROP ROLE IF EXISTS bf_nobody;
DROP ROLE IF EXISTS bf_admin;
RESET client_min_messages;
CREATE ROLE bf_activator;
GRANT SELECT, INSERT, UPDATE ON rail.activations TO bf_activator;
CREATE ROLE bf_south;
GRANT SELECT, INSERT, UPDATE ON rail.activations TO bf_south;
GRANT UPDATE (schedule_key) ON rail.movements TO bf_south;
CREATE ROLE bf_cif;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail.cif_headers, rail.tiplocs, rail.associations,
    rail.schedules, rail.schedule_locations TO bf_cif;
CREATE ROLE bf_nobody;
CREATE ROLE bf_admin IN ROLE rail_stream_admin;
GRANT SELECT ON activation, named_cif TO bf_activator, bf_south, bf_cif;

CALL pg_temp.reset();
SELECT rail_stream.ingest_message('trust', :'movements_frame') AS movements;
-- an activation of each Govia Thameslink train (TOC 88) and Southeastern
-- train (TOC 80), written by a role that may not update movements
SET ROLE bf_activator;
INSERT INTO rail.activations (train_id, msg_type, msg_queue_timestamp, schedule_key, train_uid)
SELECT a.train_id, '0001', to_timestamp((a.m #>> '{header,msg_queue_timestamp}')::bigint / 1000.0),
       n.schedule_key, a.m #>> '{body,train_uid}'
FROM activation a
JOIN LATERAL (SELECT rail_stream.schedule_key(a.m #>> '{body,train_uid}',
                  (a.m #>> '{body,schedule_start_date}')::date, 'P') AS schedule_key) n ON true
WHERE a.m #>> '{body,toc_id}' IN ('80', '88');
RESET ROLE;
SELECT m.toc_id, count(*) AS movements, count(*) FILTER (WHERE m.schedule_key = a.schedule_key) AS filled
FROM rail.movements m JOIN rail.activations a USING (train_id) GROUP BY 1 ORDER BY 1;
-- a role that may update the movements of TOC 88 only writes them again
ALTER TABLE rail.movements ENABLE ROW LEVEL SECURITY;
CREATE POLICY bf_read ON rail.movements FOR SELECT USING (true);
CREATE POLICY bf_south_88 ON rail.movements FOR UPDATE TO bf_south USING (toc_id = '88');
SET ROLE bf_south;
UPDATE rail.activations SET schedule_source = 'C' WHERE toc_id IS NULL;
RESET ROLE;
SELECT m.toc_id, count(*) AS movements, count(*) FILTER (WHERE m.schedule_key = a.schedule_key) AS filled
FROM rail.movements m JOIN rail.activations a USING (train_id) GROUP BY 1 ORDER BY 1;
DROP POLICY bf_read ON rail.movements;
DROP POLICY bf_south_88 ON rail.movements;
ALTER TABLE rail.movements DISABLE ROW LEVEL SECURITY;

-- A cif subscription's owner needs UPDATE (schedule_key) on movements for
-- its schedules to fill them: two schedules of the TOC 88 trains, gone
-- and written again by bf_cif, before and after the grant.
SELECT schedule_key AS first_key FROM rail.activations WHERE schedule_key IN (
    SELECT schedule_key FROM rail.movements WHERE toc_id = '88' AND schedule_num_stops IS NOT NULL)
ORDER BY 1 LIMIT 1 \gset
SELECT schedule_key AS second_key FROM rail.activations WHERE schedule_key IN (
    SELECT schedule_key FROM rail.movements WHERE toc_id = '88' AND schedule_num_stops IS NOT NULL)
ORDER BY 1 DESC LIMIT 1 \gset
DELETE FROM rail.schedules WHERE schedule_key IN (:'first_key', :'second_key');
-- (an update enriches a movement again: without its schedule, it waits)
UPDATE rail.movements SET toc_id = toc_id WHERE schedule_key IN (:'first_key', :'second_key');
SELECT schedule_key, count(schedule_num_stops) AS with_schedule FROM rail.movements
WHERE schedule_key IN (:'first_key', :'second_key') GROUP BY 1 ORDER BY 1;
SET ROLE bf_cif;
SELECT sum(w) AS schedule_rows
FROM (SELECT rail_stream.ingest_message('cif', line) AS w FROM named_cif n
      WHERE n.line::jsonb #>> '{JsonScheduleV1,CIF_train_uid}' = split_part(:'first_key', '/', 1)
      ORDER BY n) s;
RESET ROLE;
GRANT UPDATE (schedule_key) ON rail.movements TO bf_cif;
SET ROLE bf_cif;
SELECT sum(w) AS schedule_rows
FROM (SELECT rail_stream.ingest_message('cif', line) AS w FROM named_cif n
      WHERE n.line::jsonb #>> '{JsonScheduleV1,CIF_train_uid}' = split_part(:'second_key', '/', 1)
      ORDER BY n) s;
RESET ROLE;
SELECT schedule_key, count(schedule_num_stops) AS with_schedule FROM rail.movements
WHERE schedule_key IN (:'first_key', :'second_key') GROUP BY 1 ORDER BY 1;

-- The trigger functions cannot be attached by other roles, administrators
-- included, and refuse any other table.
SET ROLE bf_nobody;
CREATE TEMP TABLE fake_activations (LIKE rail.activations);
CREATE TRIGGER t AFTER INSERT ON fake_activations REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
RESET ROLE;
SET ROLE bf_admin;
CREATE TEMP TABLE fake_schedules (LIKE rail.schedules);
CREATE TRIGGER t AFTER INSERT ON fake_schedules REFERENCING NEW TABLE AS new_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_schedules();
RESET ROLE;
CREATE TABLE public.bf_other (LIKE rail.activations INCLUDING DEFAULTS);
CREATE TRIGGER t AFTER INSERT ON public.bf_other REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
INSERT INTO public.bf_other (train_id, msg_type) VALUES ('X', '0001');
DROP TABLE public.bf_other;

DROP VIEW pg_temp.enriched;
DROP TABLE public.bf_updates;
DROP OWNED BY bf_activator, bf_south, bf_cif, bf_nobody, bf_admin;
DROP ROLE bf_activator, bf_south, bf_cif, bf_nobody, bf_admin;
