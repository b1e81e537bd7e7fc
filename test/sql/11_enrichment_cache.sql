-- The enrichment triggers read the small lookup tables (locations, TIPLOCs,
-- TOC sectors, cancellation reasons) from a copy kept by each session: a
-- change must show in the next row, in this session and in the others,
-- once committed, and never once rolled back.  The rows must be what the
-- SQL helpers give, with the invoker's privileges and row-level security.
SET TimeZone = 'UTC';
\i test/sql/fixtures/fresh.sql
-- the CIF samples and the location master
\i test/sql/fixtures/cif.sql
\i test/sql/fixtures/locations.sql
\set VERBOSITY terse

-- The triggers are still there, under their names, and can be disabled.
SELECT c.relname, t.tgname, t.tgfoid::regprocedure, t.tgenabled
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'rail'::regnamespace AND NOT t.tgisinternal
  AND t.tgname IN ('enrich', 'lookup_changed')
ORDER BY 1, 2;
ALTER TABLE rail.movements DISABLE TRIGGER enrich;
INSERT INTO rail.movements (msg_type, train_id, planned_event_type, loc_stanox, toc_id)
VALUES ('0003', 'EC0', 'ARRIVAL', '17132', '20');
ALTER TABLE rail.movements ENABLE TRIGGER enrich;
SELECT loc_name, toc_name, schedule_key FROM rail.movements WHERE train_id = 'EC0';

-- A movement, then changes to the location, the TOC and a reason: the next
-- rows of the same transaction have them.
CREATE FUNCTION ec_move(train text, stanox text DEFAULT '17132', toc text DEFAULT '20')
RETURNS TABLE (loc_name text, toc_name text) LANGUAGE sql AS $$
    INSERT INTO rail.movements (msg_type, train_id, planned_event_type, loc_stanox, toc_id)
    VALUES ('0003', train, 'ARRIVAL', stanox, toc)
    RETURNING loc_name, toc_name;
$$;
CREATE FUNCTION ec_cancel(train text, reason text DEFAULT 'TG')
RETURNS TABLE (canx_reason text, canx_abbrev text) LANGUAGE sql AS $$
    INSERT INTO rail.cancellations (msg_type, train_id, canx_timestamp, canx_timestamp_ms,
                                    loc_stanox, toc_id, canx_reason_code)
    VALUES ('0002', train, '2024-07-28 10:00:00+00', 1722160800000, '17132', '20', reason)
    RETURNING canx_reason, canx_abbrev;
$$;
BEGIN;
SELECT * FROM ec_move('EC1');
SELECT * FROM ec_cancel('EC1');
UPDATE rail.locations SET name = 'Leeds City' WHERE location_id = 51570;
UPDATE rail.toc_sectors SET toc_name = 'TPE' WHERE toc_id = '20';
UPDATE rail.cancellation_reasons SET canx_reason = 'Driver (corrected)' WHERE canx_reason_code = 'TG';
SELECT * FROM ec_move('EC2');
SELECT * FROM ec_cancel('EC2');
COMMIT;
-- and so do those of later transactions
SELECT * FROM ec_move('EC3');
SELECT * FROM ec_cancel('EC3');
-- back to the reference values
UPDATE rail.locations SET name = NULL WHERE location_id = 51570;
UPDATE rail.toc_sectors SET toc_name = 'TransPennine Express' WHERE toc_id = '20';
UPDATE rail.cancellation_reasons SET canx_reason = 'Driver' WHERE canx_reason_code = 'TG';
SELECT * FROM ec_move('EC4');
SELECT * FROM ec_cancel('EC4');

-- A change rolled back is used by its own transaction only; so is one
-- rolled back to a savepoint; TRUNCATE and DELETE count as changes.
BEGIN;
UPDATE rail.locations SET name = 'Rolled back' WHERE location_id = 51570;
SELECT * FROM ec_move('EC5');
ROLLBACK;
SELECT * FROM ec_move('EC5');
BEGIN;
SELECT * FROM ec_move('EC6');
SAVEPOINT s;
UPDATE rail.toc_sectors SET toc_name = 'In a savepoint' WHERE toc_id = '20';
SELECT * FROM ec_move('EC7');
ROLLBACK TO SAVEPOINT s;
SELECT * FROM ec_move('EC8');
COMMIT;
BEGIN;
DELETE FROM rail.toc_sectors WHERE toc_id = '20';
SELECT * FROM ec_move('EC9');
ROLLBACK;
BEGIN;
TRUNCATE rail.cancellation_reasons;
SELECT * FROM ec_cancel('EC9');
ROLLBACK;
SELECT * FROM ec_move('EC10');
SELECT * FROM ec_cancel('EC10');

-- An activation inserted earlier in the transaction leads a movement to
-- its schedule; a NULL TOC has no name, an unknown one the talk's text.
BEGIN;
INSERT INTO rail.activations (train_id, msg_type, schedule_key, train_uid, sched_origin_stanox, toc_id)
VALUES ('EC11', '0001', 'W65870/2018-05-26/P', 'W65870', '87219', '81');
SELECT sched_origin_name, toc_name FROM rail.activations WHERE train_id = 'EC11';
INSERT INTO rail.movements (msg_type, train_id, planned_event_type, loc_stanox, toc_id)
VALUES ('0003', 'EC11', 'DEPARTURE', '87219', NULL), ('0003', 'EC11', 'ARRIVAL', '87219', '00');
SELECT planned_event_type, loc_name, toc_name, schedule_key, train_uid, origin_name,
       destination_name, origin_public_departure, schedule_num_stops
FROM rail.movements WHERE train_id = 'EC11' ORDER BY 1;
COMMIT;

-- Another session (dblink) keeps its own copy: it sees a change once
-- committed, not before.
CREATE EXTENSION dblink;
SELECT dblink_connect('s2', format('dbname=%s host=%s port=%s', current_database(),
    split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
CREATE FUNCTION ec_move_s2(train text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT n FROM dblink('s2', format(
        'INSERT INTO rail.movements (msg_type, train_id, planned_event_type, loc_stanox, toc_id)
         VALUES (%L, %L, %L, %L, %L) RETURNING loc_name', '0003', train, 'ARRIVAL', '17132', '20'))
        AS t(n text);
$$;
SELECT * FROM ec_move_s2('EC12');
BEGIN;
UPDATE rail.locations SET name = 'Leeds (uncommitted)' WHERE location_id = 51570;
SELECT * FROM ec_move_s2('EC13');
COMMIT;
SELECT * FROM ec_move_s2('EC14');
-- a REPEATABLE READ transaction keeps reading its snapshot
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM ec_move('EC15');
SELECT dblink_exec('s2', 'UPDATE rail.locations SET name = NULL WHERE location_id = 51570');
SELECT * FROM ec_move('EC16');
COMMIT;
SELECT * FROM ec_move('EC17');
SELECT * FROM ec_move_s2('EC17b');
SELECT dblink_disconnect('s2');

-- Privileges: the triggers read as the invoker.
SET client_min_messages = warning;
DROP ROLE IF EXISTS rs_enrich_user;  -- left by an earlier run (roles outlive databases)
RESET client_min_messages;
CREATE ROLE rs_enrich_user;
GRANT INSERT ON rail.movements TO rs_enrich_user;
SET ROLE rs_enrich_user;
SELECT * FROM ec_move('EC18');
RESET ROLE;
REVOKE SELECT ON rail.locations FROM PUBLIC;
SET ROLE rs_enrich_user;
SELECT * FROM ec_move('EC19');
RESET ROLE;
GRANT SELECT ON rail.locations TO PUBLIC;
-- Row-level security: the rows the policy leaves, as the SQL helper sees
-- them; the table owner (not subject to it) still sees all.
ALTER TABLE rail.locations ENABLE ROW LEVEL SECURITY;
CREATE POLICY ec_hide ON rail.locations USING (location_id <> 19060);
SET ROLE rs_enrich_user;
SELECT * FROM ec_move('EC20', '10050');
SELECT name FROM rail._location_by_stanox('10050');
RESET ROLE;
SELECT * FROM ec_move('EC21', '10050');
DROP POLICY ec_hide ON rail.locations;
ALTER TABLE rail.locations DISABLE ROW LEVEL SECURITY;
SET ROLE rs_enrich_user;
SELECT * FROM ec_move('EC22', '10050');
RESET ROLE;
-- An UPDATE enriches the new row.
UPDATE rail.movements SET loc_stanox = '17132', toc_id = '23' WHERE train_id = 'EC22'
RETURNING loc_stanox, loc_name, loc_crs, toc_name;
REVOKE INSERT ON rail.movements FROM rs_enrich_user;
DROP ROLE rs_enrich_user;

-- A column added by a user does not disturb the triggers.
ALTER TABLE rail.activations ADD COLUMN ec_note text DEFAULT 'mine';
INSERT INTO rail.activations (train_id, msg_type, sched_origin_stanox, toc_id)
VALUES ('EC24', '0001', '17132', '23')
RETURNING sched_origin_name, sched_origin_tiploc, toc_name, ec_note;
ALTER TABLE rail.activations DROP COLUMN ec_note;

-- Each trigger function serves its own table, BEFORE INSERT OR UPDATE FOR
-- EACH ROW.
CREATE TABLE ec_other (loc_stanox text, toc_id text, train_id text);
CREATE TRIGGER enrich BEFORE INSERT ON ec_other
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_movement();
INSERT INTO ec_other VALUES ('17132', '20', 'EC23');
DROP TABLE ec_other;
CREATE TRIGGER ec_after AFTER INSERT ON rail.movements
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_movement();
SELECT * FROM ec_move('EC23');
DROP TRIGGER ec_after ON rail.movements;
CREATE TRIGGER ec_changed AFTER INSERT ON rail.movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail._lookup_changed();
SELECT * FROM ec_move('EC23');
DROP TRIGGER ec_changed ON rail.movements;

-- The rows equal the SQL helpers' results for every location: each STANOX
-- (by a movement), each TIPLOC of the location master and of the CIF (as
-- a schedule's origin and destination), each TOC sector and a few unknown
-- codes, each cancellation reason and an unknown one.
INSERT INTO rail.movements (msg_type, train_id, planned_event_type, loc_stanox, toc_id)
SELECT '0003', 'ECALL', 'ARRIVAL', s.stanox, NULL
FROM (SELECT DISTINCT stanox FROM rail.locations WHERE stanox IS NOT NULL) s;
SELECT count(*) AS stanoxes,
       count(*) FILTER (WHERE (m.loc_tiploc, m.loc_crs, m.loc_name, m.loc_lat, m.loc_lon)
                       IS DISTINCT FROM (l.tiploc, l.crs, l.name, l.latitude, l.longitude))
           AS mismatches
FROM rail.movements m, rail._location_by_stanox(m.loc_stanox) l
WHERE m.train_id = 'ECALL';
SELECT m.loc_stanox, m.loc_tiploc, m.loc_crs, m.loc_name, m.loc_lat, m.loc_lon, l.*
FROM rail.movements m, rail._location_by_stanox(m.loc_stanox) l
WHERE m.train_id = 'ECALL'
  AND (m.loc_tiploc, m.loc_crs, m.loc_name, m.loc_lat, m.loc_lon)
      IS DISTINCT FROM (l.tiploc, l.crs, l.name, l.latitude, l.longitude)
ORDER BY 1 LIMIT 10;

INSERT INTO rail.schedules (schedule_key, train_uid, schedule_start_date, stp_indicator,
                            origin_tiploc, destination_tiploc)
SELECT 'EC/' || t.tiploc, 'EC', '2026-12-01', 'P', t.tiploc,
       lead(t.tiploc) OVER (ORDER BY t.tiploc)
FROM (SELECT tiploc FROM rail.locations WHERE tiploc IS NOT NULL
      UNION SELECT tiploc_code FROM rail.tiplocs) t;
SELECT count(*) AS tiplocs,
       count(*) FILTER (WHERE (s.origin_name, s.origin_lat, s.origin_lon)
                       IS DISTINCT FROM (o.name, o.latitude, o.longitude)
                       OR (s.destination_name, s.destination_lat, s.destination_lon)
                       IS DISTINCT FROM (d.name, d.latitude, d.longitude)) AS mismatches,
       count(s.origin_name) AS named, count(s.origin_lat) AS located
FROM rail.schedules s, rail._location_by_tiploc(s.origin_tiploc) o,
     rail._location_by_tiploc(s.destination_tiploc) d
WHERE s.schedule_key LIKE 'EC/%';
SELECT s.origin_tiploc, s.origin_name, s.origin_lat, s.origin_lon, o.*
FROM rail.schedules s, rail._location_by_tiploc(s.origin_tiploc) o
WHERE s.schedule_key LIKE 'EC/%'
  AND (s.origin_name, s.origin_lat, s.origin_lon) IS DISTINCT FROM (o.name, o.latitude, o.longitude)
ORDER BY 1 LIMIT 10;

INSERT INTO rail.activations (train_id, msg_type, toc_id, sched_origin_stanox)
SELECT 'EC/' || coalesce(t, 'null'), '0001', t, '17132'
FROM (SELECT toc_id FROM rail.toc_sectors UNION ALL VALUES ('00'), (''), (NULL)) s(t);
SELECT count(*) AS tocs,
       count(*) FILTER (WHERE a.toc_name IS DISTINCT FROM rail_stream.toc_name(a.toc_id))
           AS mismatches
FROM rail.activations a WHERE a.train_id LIKE 'EC/%';
SELECT a.toc_id, a.toc_name FROM rail.activations a
WHERE a.train_id LIKE 'EC/%'
  AND NOT EXISTS (SELECT FROM rail.toc_sectors s WHERE s.toc_id = a.toc_id)
ORDER BY 1;

INSERT INTO rail.cancellations (msg_type, train_id, canx_timestamp, canx_timestamp_ms,
                                loc_stanox, canx_reason_code)
SELECT '0002', 'ECALL', '2024-07-28 10:00:00+00', 1722160800000, coalesce(c, 'none'), c
FROM (SELECT canx_reason_code FROM rail.cancellation_reasons UNION ALL VALUES ('Q9'), (NULL)) s(c);
SELECT count(*) AS reasons,
       count(*) FILTER (WHERE (x.canx_reason, x.canx_abbrev) IS DISTINCT FROM (r.canx_reason, r.canx_abbrev))
           AS mismatches
FROM rail.cancellations x
LEFT JOIN rail.cancellation_reasons r ON r.canx_reason_code = x.canx_reason_code
WHERE x.train_id = 'ECALL';

-- leave the data as the fixtures loaded it
DELETE FROM rail.movements WHERE train_id LIKE 'EC%';
DELETE FROM rail.cancellations WHERE train_id LIKE 'EC%';
DELETE FROM rail.activations WHERE train_id LIKE 'EC%';
DELETE FROM rail.schedules WHERE schedule_key LIKE 'EC/%';
DROP FUNCTION ec_move, ec_cancel, ec_move_s2;
DROP EXTENSION dblink;
