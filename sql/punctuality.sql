
-- Daily punctuality, exactly once ------------------------------------------
--
-- Movements per UK calendar day (of actual_timestamp), TOC and variation
-- status, kept by a trigger in the transaction that writes the movement: a
-- movement counts once however often it is re-sent, and a correction that
-- changes its status or day moves its count.  This is the talk's
-- TOC_VARIATION_STATS_DAILY tumbling window, maintained incrementally.

CREATE TABLE rail.daily_movement_counts (
    day                 date NOT NULL,
    toc_id              text,
    variation_status    text,
    movements           bigint NOT NULL,
    CONSTRAINT daily_movement_counts_key
        UNIQUE NULLS NOT DISTINCT (day, toc_id, variation_status)
);
COMMENT ON TABLE rail.daily_movement_counts IS
    'Movements per UK day, toc_id and variation_status, maintained with rail.movements';
SELECT pg_catalog.pg_extension_config_dump('rail.daily_movement_counts', '');

-- One statement's movements move the counts at once, from its transition
-- tables: the rows it inserted count +1, the rows it deleted -1, and an
-- update both (it cancels out unless the day, TOC or status changed).  The
-- sums go in with one UPDATE of the counts that exist and one INSERT of the
-- keys that are new (below: why not one upsert).  Writers of the counts
-- take the table's SHARE ROW EXCLUSIVE lock first, until they commit: two workers
-- then never wait for each other's count rows in opposite orders (they
-- would deadlock), and readers are never blocked.
-- SECURITY DEFINER: a subscription's owner writes movements, not counts.
CREATE FUNCTION rail._count_movements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- each delta finds its count through the key's index: a plan made while
-- the table was small (or had no statistics yet) would scan it all, and
-- every version of the hot count rows that the transaction left with it
SET enable_seqscan = off
AS $$
DECLARE
    deltas rail.daily_movement_counts[];
BEGIN
    -- it runs as the extension's owner: on no other table
    IF TG_RELID <> 'rail.movements'::regclass OR TG_LEVEL <> 'STATEMENT' THEN
        RAISE EXCEPTION 'trigger function "_count_movements" only serves rail.movements'
            USING ERRCODE = 'triggered_action_exception';
    END IF;

    -- what moved, per key (0 for most updates)
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(d ORDER BY d.day, d.toc_id, d.variation_status) INTO deltas
        FROM (SELECT (n.actual_timestamp AT TIME ZONE 'Europe/London')::date AS day,
                     n.toc_id, n.variation_status, count(*) AS movements
              FROM new_movements n WHERE n.actual_timestamp IS NOT NULL
              GROUP BY 1, 2, 3) d;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(d ORDER BY d.day, d.toc_id, d.variation_status) INTO deltas
        FROM (SELECT m.day, m.toc_id, m.variation_status, sum(m.n) AS movements
              FROM (SELECT (n.actual_timestamp AT TIME ZONE 'Europe/London')::date AS day,
                           n.toc_id, n.variation_status, 1 AS n
                    FROM new_movements n
                    UNION ALL
                    SELECT (o.actual_timestamp AT TIME ZONE 'Europe/London')::date,
                           o.toc_id, o.variation_status, -1
                    FROM old_movements o) m
              WHERE m.day IS NOT NULL
              GROUP BY 1, 2, 3 HAVING sum(m.n) <> 0) d;
    ELSE
        SELECT array_agg(d ORDER BY d.day, d.toc_id, d.variation_status) INTO deltas
        FROM (SELECT (o.actual_timestamp AT TIME ZONE 'Europe/London')::date AS day,
                     o.toc_id, o.variation_status, -count(*) AS movements
              FROM old_movements o WHERE o.actual_timestamp IS NOT NULL
              GROUP BY 1, 2, 3) d;
    END IF;
    IF deltas IS NULL THEN
        RETURN NULL;
    END IF;

    -- Counts that exist are updated in place, and only the keys that have
    -- none yet are inserted.  Not one upsert: ON CONFLICT DO UPDATE of a
    -- row that another subtransaction of the same transaction wrote makes
    -- a MultiXact, and ingest_message() writes each message in a
    -- subtransaction of its own; the next statement then reads the
    -- members of every such version of the hot count rows, which took
    -- more than half of its time (bench/run.sh).  The table lock keeps
    -- other writers out between the UPDATE and the INSERT; keys with a
    -- NULL, which "=" cannot find, still go through ON CONFLICT.
    LOCK TABLE rail.daily_movement_counts IN SHARE ROW EXCLUSIVE MODE;
    WITH d AS (SELECT * FROM unnest(deltas)),
    updated AS (
        UPDATE rail.daily_movement_counts c SET movements = c.movements + d.movements
        FROM d
        WHERE c.day = d.day AND c.toc_id = d.toc_id
          AND c.variation_status = d.variation_status
        RETURNING c.day, c.toc_id, c.variation_status)
    -- a decrement of a count that is not there changes nothing, as before
    -- (one without a NULL was there if the UPDATE found it)
    INSERT INTO rail.daily_movement_counts AS c (day, toc_id, variation_status, movements)
    SELECT d.day, d.toc_id, d.variation_status, d.movements
    FROM d
    WHERE NOT EXISTS (SELECT FROM updated u
                      WHERE u.day = d.day AND u.toc_id = d.toc_id
                        AND u.variation_status = d.variation_status)
      AND (d.movements > 0
           OR ((d.toc_id IS NULL OR d.variation_status IS NULL)
               AND EXISTS (SELECT FROM rail.daily_movement_counts e
                           WHERE e.day = d.day AND e.toc_id IS NOT DISTINCT FROM d.toc_id
                             AND e.variation_status IS NOT DISTINCT FROM d.variation_status)))
    ON CONFLICT ON CONSTRAINT daily_movement_counts_key
    DO UPDATE SET movements = c.movements + EXCLUDED.movements;
    -- counts that went down to 0 go (found by the key's index; those with
    -- a NULL, which it cannot find, only when there are any)
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM rail.daily_movement_counts c
        USING unnest(deltas) d
        WHERE d.movements < 0 AND c.movements = 0 AND c.day = d.day
          AND c.toc_id = d.toc_id AND c.variation_status = d.variation_status;
        IF EXISTS (SELECT FROM unnest(deltas) d
                   WHERE d.movements < 0 AND (d.toc_id IS NULL OR d.variation_status IS NULL)) THEN
            DELETE FROM rail.daily_movement_counts c
            USING unnest(deltas) d
            WHERE d.movements < 0 AND c.movements = 0 AND c.day = d.day
              AND c.toc_id IS NOT DISTINCT FROM d.toc_id
              AND c.variation_status IS NOT DISTINCT FROM d.variation_status;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

REVOKE EXECUTE ON FUNCTION rail._count_movements() FROM PUBLIC;
-- a trigger with transition tables serves one event
CREATE TRIGGER count_daily_insert AFTER INSERT ON rail.movements
    REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail._count_movements();
CREATE TRIGGER count_daily_update AFTER UPDATE ON rail.movements
    REFERENCING OLD TABLE AS old_movements NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail._count_movements();
CREATE TRIGGER count_daily_delete AFTER DELETE ON rail.movements
    REFERENCING OLD TABLE AS old_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail._count_movements();

-- The counts with TOC names, one row per day, status and TOC.
CREATE VIEW rail.daily_punctuality_by_toc AS
    SELECT c.day, c.variation_status, c.toc_id,
           rail_stream.toc_name(c.toc_id) AS toc_name, c.movements
    FROM rail.daily_movement_counts c;
COMMENT ON VIEW rail.daily_punctuality_by_toc IS
    'Daily movement counts per variation status and TOC, one row each';

-- create_punctuality_view(view, toc_ids): the talk's table, a row per day
-- and variation status and a column per TOC (named after it), for any TOCs.
CREATE FUNCTION rail_stream.create_punctuality_view(view_name text, toc_ids text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text;
    parts text[] := parse_ident(view_name);
BEGIN
    IF array_length(parts, 1) <> 2 THEN
        RAISE EXCEPTION 'view name "%" is not schema-qualified', view_name
            USING ERRCODE = 'invalid_name',
                  HINT = 'Name the view with its schema, as in "public.punctuality".';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM unnest(toc_ids) AS u(id) WHERE u.id IS NOT NULL) THEN
        RAISE EXCEPTION 'no TOC given for the punctuality view'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass TRUST toc_ids, as in ARRAY[''23'', ''61''].';
    END IF;
    -- columns are named after the TOC, within the 63 bytes of an
    -- identifier; TOCs that share a name ("Unmapped") add their code
    SELECT string_agg(format('coalesce(sum(c.movements) FILTER (WHERE c.toc_id = %L), 0) AS %I',
                             t.id, CASE WHEN t.sharing > 1
                                        THEN left(t.name, 50) || ' (' || left(t.id, 8) || ')'
                                        ELSE t.name END), ', ' ORDER BY t.n)
    INTO cols
    FROM (SELECT d.*, count(*) OVER (PARTITION BY d.name) AS sharing
          FROM (SELECT DISTINCT ON (u.id) u.id, u.n, left(rail_stream.toc_name(u.id), 60) AS name
                FROM unnest(toc_ids) WITH ORDINALITY AS u(id, n)
                WHERE u.id IS NOT NULL ORDER BY u.id, u.n) d) t;
    EXECUTE format('CREATE VIEW %I.%I AS SELECT c.day, c.variation_status, %s'
                   ' FROM rail.daily_movement_counts c'
                   ' GROUP BY c.day, c.variation_status', parts[1], parts[2], cols);
END;
$$;
COMMENT ON FUNCTION rail_stream.create_punctuality_view(text, text[]) IS
    'Create a view of daily movements per variation status with one column per given TOC';

-- The talk's own table: its four operators (TRUST sector codes 23, 28, 61, 20).
SELECT rail_stream.create_punctuality_view('rail.daily_punctuality', ARRAY['23', '28', '61', '20']);
COMMENT ON VIEW rail.daily_punctuality IS
    'The talk''s TOC_VARIATION_STATS_DAILY: movements per day and variation status for its four TOCs';

-- Read access: the rail data model is for everyone who may connect.
GRANT SELECT ON ALL TABLES IN SCHEMA rail TO PUBLIC;
