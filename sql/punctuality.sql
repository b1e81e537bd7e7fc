
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

-- SECURITY DEFINER: a subscription's owner writes movements, not counts.
CREATE FUNCTION rail._count_movements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_day date;
    new_day date;
BEGIN
    -- it runs as the extension's owner: on no other table
    IF TG_RELID <> 'rail.movements'::regclass THEN
        RAISE EXCEPTION 'trigger function "_count_movements" only serves rail.movements'
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_day := (OLD.actual_timestamp AT TIME ZONE 'Europe/London')::date;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_day := (NEW.actual_timestamp AT TIME ZONE 'Europe/London')::date;
    END IF;
    IF TG_OP = 'UPDATE'
       AND old_day IS NOT DISTINCT FROM new_day
       AND OLD.toc_id IS NOT DISTINCT FROM NEW.toc_id
       AND OLD.variation_status IS NOT DISTINCT FROM NEW.variation_status THEN
        RETURN NULL;
    END IF;
    IF old_day IS NOT NULL THEN
        UPDATE rail.daily_movement_counts c SET movements = c.movements - 1
        WHERE c.day = old_day AND c.toc_id IS NOT DISTINCT FROM OLD.toc_id
          AND c.variation_status IS NOT DISTINCT FROM OLD.variation_status;
        DELETE FROM rail.daily_movement_counts c
        WHERE c.day = old_day AND c.toc_id IS NOT DISTINCT FROM OLD.toc_id
          AND c.variation_status IS NOT DISTINCT FROM OLD.variation_status
          AND c.movements = 0;
    END IF;
    IF new_day IS NOT NULL THEN
        INSERT INTO rail.daily_movement_counts AS c (day, toc_id, variation_status, movements)
        VALUES (new_day, NEW.toc_id, NEW.variation_status, 1)
        ON CONFLICT ON CONSTRAINT daily_movement_counts_key
        DO UPDATE SET movements = c.movements + 1;
    END IF;
    RETURN NULL;
END;
$$;

REVOKE EXECUTE ON FUNCTION rail._count_movements() FROM PUBLIC;
CREATE TRIGGER count_daily AFTER INSERT OR UPDATE OR DELETE ON rail.movements
    FOR EACH ROW EXECUTE FUNCTION rail._count_movements();

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
