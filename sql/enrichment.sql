
-- Enrichment: the talk's stream-table joins, done at insert time -----------
--
-- BEFORE INSERT OR UPDATE triggers look up what the talk joins in ksqlDB:
-- a movement's location (by STANOX), TOC, activation (by train_id) and
-- schedule (by the activation's schedule key); a cancellation's reason and
-- location; an activation's origin; a schedule's origin and destination
-- names.  A movement whose activation is unknown, or is of another run of
-- its train_id (queued more than a week apart: TRUST reuses train_ids
-- monthly), gets the talk's marker 'no_schedule_activation_found'; an
-- activation or schedule written later fills it in (sql/backfill.sql).
--
-- The trigger functions are in C (src/enrich.c): they return what the SQL
-- helpers below return (rail._location_by_stanox, rail._location_by_tiploc,
-- rail_stream.toc_name), reading rail.locations, rail.tiplocs,
-- rail.toc_sectors and rail.cancellation_reasons from a copy cached in each
-- session, and rail.activations and rail.schedules by primary key.  A
-- statement that changes a cached table drops the copies (the trigger
-- lookup_changed below): do not disable it.  They run as the invoker, who
-- needs SELECT on the tables read; row-level security applies.

-- The operator name of each TRUST toc_id (sector code).  Several rows of the
-- TOC table can share a sector code; the whitelisted ones win, and their names
-- are joined.  Sector 88 is one operator, Govia Thameslink Railway, which runs
-- Great Northern, Thameslink and Southern.  Users may correct names here.
CREATE TABLE rail.toc_sectors (
    toc_id      text NOT NULL PRIMARY KEY,
    toc_name    text NOT NULL
);
COMMENT ON TABLE rail.toc_sectors IS 'The name shown for each TRUST toc_id (sector code)';
INSERT INTO rail.toc_sectors (toc_id, toc_name)
SELECT x.toc_id, string_agg(x.company_name, ' / ' ORDER BY x.toc_row)
FROM (SELECT t.toc_id, t.company_name, t.toc_row,
             rank() OVER (PARTITION BY t.toc_id
                          ORDER BY t.whitelisted = 'Y' DESC NULLS LAST) AS preference
      FROM rail.tocs t WHERE t.toc_id IS NOT NULL) x
WHERE x.preference = 1
GROUP BY x.toc_id;
UPDATE rail.toc_sectors SET toc_name = 'Govia Thameslink Railway' WHERE toc_id = '88';

-- The talk's TOC decode, for every operator: unknown codes read as
-- '<unknown TOC code: NN>'.
CREATE FUNCTION rail_stream.toc_name(toc_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
        (SELECT s.toc_name FROM rail.toc_sectors s
         WHERE s.toc_id OPERATOR(pg_catalog.=) toc_name.toc_id),
        '<unknown TOC code: ' OPERATOR(pg_catalog.||) toc_name.toc_id
            OPERATOR(pg_catalog.||) '>');
END;
COMMENT ON FUNCTION rail_stream.toc_name(text) IS
    'Operator name for a TRUST toc_id (sector code), from rail.toc_sectors';

-- One location per STANOX for lookups: many TIPLOCs share a STANOX, so the
-- station (with a CRS code) wins, then a located row, then the lowest id.
CREATE VIEW rail.locations_by_stanox AS
    SELECT DISTINCT ON (l.stanox)
           l.stanox, l.tiploc, l.crs,
           coalesce(nullif(l.name, ''), l.description) AS name,
           l.latitude, l.longitude, l.location_id
    FROM rail.locations l
    WHERE l.stanox IS NOT NULL
    ORDER BY l.stanox, l.crs IS NULL, l.latitude IS NULL, l.location_id;
COMMENT ON VIEW rail.locations_by_stanox IS 'One location per STANOX, as used by the enrichment triggers';

CREATE FUNCTION rail._location_by_stanox(stanox text,
    OUT tiploc text, OUT crs text, OUT name text,
    OUT latitude double precision, OUT longitude double precision)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT l.tiploc, l.crs, coalesce(nullif(l.name, ''), l.description),
           l.latitude, l.longitude
    FROM rail.locations l
    WHERE l.stanox OPERATOR(pg_catalog.=) _location_by_stanox.stanox
    ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id
    LIMIT 1;
END;

-- A TIPLOC's name and position: the location master (its station row first,
-- as for STANOX), else the CIF TIPLOC.
CREATE FUNCTION rail._location_by_tiploc(tiploc text,
    OUT name text, OUT latitude double precision, OUT longitude double precision)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
               (SELECT coalesce(nullif(l.name, ''), l.description) FROM rail.locations l
                WHERE l.tiploc OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc
                ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id LIMIT 1),
               (SELECT t.tps_description FROM rail.tiplocs t
                WHERE t.tiploc_code OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc)),
           l2.latitude, l2.longitude
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT l.latitude, l.longitude FROM rail.locations l
                       WHERE l.tiploc OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc
                       ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id
                       LIMIT 1) l2 ON true;
END;

CREATE FUNCTION rail._enrich_movement() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_movement';

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.movements
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_movement();

CREATE FUNCTION rail._enrich_cancellation() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_cancellation';

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.cancellations
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_cancellation();

CREATE FUNCTION rail._enrich_activation() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_activation';

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.activations
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_activation();

CREATE FUNCTION rail._enrich_schedule() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_schedule';

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.schedules
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_schedule();

-- Each session's copy of the cached tables goes when one of them changes:
-- for this session at the end of the statement, for the others when the
-- transaction commits.
CREATE FUNCTION rail._lookup_changed() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_lookup_changed';

CREATE TRIGGER lookup_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail.locations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._lookup_changed();
CREATE TRIGGER lookup_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail.tiplocs
    FOR EACH STATEMENT EXECUTE FUNCTION rail._lookup_changed();
CREATE TRIGGER lookup_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail.toc_sectors
    FOR EACH STATEMENT EXECUTE FUNCTION rail._lookup_changed();
CREATE TRIGGER lookup_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail.cancellation_reasons
    FOR EACH STATEMENT EXECUTE FUNCTION rail._lookup_changed();

-- rail.locations_csv: each CSV row becomes a location; the file's literal
-- "null" and empty fields become NULL.
CREATE FUNCTION rail._load_location_csv() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO rail.locations AS l
    SELECT v.location_id::integer, v.name, v.description, v.tiploc, v.crs, v.nlc,
           v.stanox, v.notes, v.longitude::double precision,
           v.latitude::double precision, v.is_off_network::boolean,
           v.timing_point_type
    FROM (SELECT nullif(nullif(NEW.location_id, 'null'), '') AS location_id,
                 nullif(nullif(NEW.name, 'null'), '') AS name,
                 nullif(nullif(NEW.description, 'null'), '') AS description,
                 nullif(nullif(NEW.tiploc, 'null'), '') AS tiploc,
                 nullif(nullif(NEW.crs, 'null'), '') AS crs,
                 nullif(nullif(NEW.nlc, 'null'), '') AS nlc,
                 nullif(nullif(NEW.stanox, 'null'), '') AS stanox,
                 nullif(nullif(NEW.notes, 'null'), '') AS notes,
                 nullif(nullif(NEW.longitude, 'null'), '') AS longitude,
                 nullif(nullif(NEW.latitude, 'null'), '') AS latitude,
                 nullif(nullif(NEW."isOffNetwork", 'null'), '') AS is_off_network,
                 nullif(nullif(NEW."timingPointType", 'null'), '') AS timing_point_type) v
    ON CONFLICT (location_id) DO UPDATE
        SET name = EXCLUDED.name, description = EXCLUDED.description,
            tiploc = EXCLUDED.tiploc, crs = EXCLUDED.crs, nlc = EXCLUDED.nlc,
            stanox = EXCLUDED.stanox, notes = EXCLUDED.notes,
            longitude = EXCLUDED.longitude, latitude = EXCLUDED.latitude,
            is_off_network = EXCLUDED.is_off_network,
            timing_point_type = EXCLUDED.timing_point_type;
    RETURN NEW;
END;
$$;

CREATE TRIGGER load INSTEAD OF INSERT ON rail.locations_csv
    FOR EACH ROW EXECUTE FUNCTION rail._load_location_csv();

-- Trigger functions serve their own tables only.
REVOKE EXECUTE ON FUNCTION rail._enrich_movement(), rail._enrich_cancellation(),
    rail._enrich_activation(), rail._enrich_schedule(), rail._load_location_csv()
    FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rail._lookup_changed() FROM PUBLIC;
