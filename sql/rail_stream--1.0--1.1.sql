-- rail_stream 1.0 -> 1.1
--
-- Every change made to the install script's parts (sql/*.sql) since 1.0,
-- in the order of the parts.  A function that several changes touched is
-- defined once, in its final form, where the last of them is; the earlier
-- sections say so.  A fresh 1.1 install and an updated 1.0 must end with
-- the same objects: test/upgrade/run.sh compares them.

\echo Use "ALTER EXTENSION rail_stream UPDATE TO '1.1'" to load this file. \quit

-- Security (issue 8) ------------------------------------------------------
-- Every change to a subscription passes one trigger, whatever the path;
-- only members of a subscription's owner (or superusers) change it; the
-- librdkafka allowlist lives in C, checked again by the worker; trigger
-- functions that run as the extension's owner check the table that fired
-- them, and internal functions are not executable by PUBLIC; dead letters
-- record whose rights they were written with, replays use those rights,
-- and oversize messages keep a bounded prefix; alert templates are filled
-- in one pass within 64 kB; NOTIFY payloads never fail a movement.

-- machinery.sql
ALTER TABLE rail_stream.dead_letters
    ADD COLUMN written_as regrole,
    ADD COLUMN value_length bigint,
    ADD COLUMN value_sha256 bytea;
COMMENT ON COLUMN rail_stream.dead_letters.written_as IS
    'The role whose rights the message was written with; a replay runs with them';
COMMENT ON COLUMN rail_stream.dead_letters.value_length IS
    'Length of the whole message: value holds only its start when it was over rail_stream.max_message_size';
COMMENT ON COLUMN rail_stream.dead_letters.value_sha256 IS
    'SHA-256 of the whole message (NULL for an oversize argument of ingest_message stored compressed)';
UPDATE rail_stream.dead_letters SET value_length = octet_length(value);

-- enrichment.sql
REVOKE EXECUTE ON FUNCTION rail._enrich_movement(), rail._enrich_cancellation(),
    rail._enrich_activation(), rail._enrich_schedule(), rail._load_location_csv()
    FROM PUBLIC;

-- punctuality.sql
-- the counts move per statement (transition tables), not per row
DROP TRIGGER count_daily ON rail.movements;
CREATE OR REPLACE FUNCTION rail._count_movements() RETURNS trigger
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

CREATE OR REPLACE FUNCTION rail_stream.create_punctuality_view(view_name text, toc_ids text[])
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


-- subscriptions.sql
CREATE FUNCTION rail_stream._may_manage(owner regrole) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
        OR (rail_stream._is_admin()
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles o
                        WHERE o.oid OPERATOR(pg_catalog.=) owner::oid AND NOT o.rolsuper
                          AND pg_catalog.pg_has_role(CURRENT_USER, o.oid, 'MEMBER')));
END;


-- settings may hold credentials: each administrator sees its own
DROP POLICY admins_only ON rail_stream.subscriptions;
CREATE POLICY managers_only ON rail_stream.subscriptions
    USING (rail_stream._may_manage(owner)) WITH CHECK (rail_stream._is_admin());

CREATE FUNCTION rail_stream._check_subscription() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o jsonb;
BEGIN
    IF TG_RELID <> 'rail_stream.subscriptions'::regclass THEN
        RAISE EXCEPTION 'trigger function "_check_subscription" only checks rail_stream.subscriptions'
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    PERFORM rail_stream._require_admin();
    IF TG_OP <> 'INSERT' AND NOT rail_stream._may_manage(OLD.owner) THEN
        RAISE EXCEPTION 'permission denied to change subscription "%"', OLD.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Its workers run as role %s: only members of that role change it, and only superusers change the subscription of a superuser.', OLD.owner);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NOT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = CURRENT_USER), false)
       AND ((TG_OP = 'INSERT' AND NEW.owner::oid <> (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER))
            OR (TG_OP = 'UPDATE' AND NEW.owner IS DISTINCT FROM OLD.owner)) THEN
        RAISE EXCEPTION 'only a superuser can give a subscription another owner'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' OR NEW.feed IS DISTINCT FROM OLD.feed
       OR NEW.owner IS DISTINCT FROM OLD.owner THEN
        NEW.feed := rail_stream._feed_name(NEW.feed);
        PERFORM rail_stream._check_feed(NEW.feed, NEW.owner);
    END IF;
    o := rail_stream._check_options(jsonb_strip_nulls(jsonb_build_object(
        'start', NEW.start_position, 'batch_size', NEW.batch_size,
        'batch_ms', NEW.batch_ms, 'parallelism', NEW.parallelism,
        'kafka', NEW.kafka_properties)));
    NEW.start_position := o ->> 'start';
    NEW.kafka_properties := o -> 'kafka';
    RETURN NEW;
END;
$$;

DROP TRIGGER guard_owner ON rail_stream.subscriptions;
DROP FUNCTION rail_stream._guard_owner();
CREATE TRIGGER check_subscription BEFORE INSERT OR UPDATE OR DELETE ON rail_stream.subscriptions
    FOR EACH ROW EXECUTE FUNCTION rail_stream._check_subscription();

DROP POLICY admins_write ON rail_stream.subscription_offsets;
CREATE POLICY managers_write ON rail_stream.subscription_offsets
    USING (rail_stream._may_manage((SELECT s.owner FROM rail_stream.subscriptions s
                                    WHERE s.id OPERATOR(pg_catalog.=) subscription_id)))
    WITH CHECK (rail_stream._may_manage((SELECT s.owner FROM rail_stream.subscriptions s
                                         WHERE s.id OPERATOR(pg_catalog.=) subscription_id)));

ALTER TABLE rail_stream.dead_letters ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_read ON rail_stream.dead_letters FOR SELECT
    USING (rail_stream._is_admin());
CREATE POLICY managers_delete ON rail_stream.dead_letters FOR DELETE
    USING (rail_stream._may_manage(written_as));
GRANT SELECT, DELETE ON rail_stream.dead_letters TO PUBLIC;

REVOKE EXECUTE ON FUNCTION rail_stream._wake_launcher() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rail_stream._check_subscription() FROM PUBLIC;

-- the allowlist is now checked in C before librdkafka sees a property
GRANT EXECUTE ON FUNCTION rail_stream._check_kafka_property(text, text) TO PUBLIC;

DROP FUNCTION rail_stream._check_feed(text);
-- The tables a feed writes and the privileges a writer needs on them, as
-- the feed's file in src/ declares them.
CREATE FUNCTION rail_stream._feed_tables(feed text,
    OUT tables regclass[], OUT privileges text[])
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_list_feed_tables';

CREATE FUNCTION rail_stream._check_feed(feed text, role regrole DEFAULT CURRENT_USER::regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tables regclass[];
    needed text[];
    t regclass;
    p text;
BEGIN
    SELECT f.tables, f.privileges INTO tables, needed
    FROM rail_stream._feed_tables(feed) f;
    FOREACH t IN ARRAY tables LOOP
        FOREACH p IN ARRAY needed LOOP
            IF NOT has_table_privilege(role, t, p) THEN
                RAISE EXCEPTION 'permission denied for table %', t
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The subscription''s owner, %I, needs %s on the tables that feed "%s" writes, and lacks %s.',
                                          role, array_to_string(needed, ', '), feed, p);
            END IF;
        END LOOP;
    END LOOP;
END;
$$;


-- A feed with the "metadata" option of a subscription written after its
-- table, as in 'json:public.events {"metadata": {"kafka_offset": "offset"}}',
-- the form that the worker, ingest_message() and replays read.  With
-- replace, options the feed has already give way; else they are an error.
CREATE FUNCTION rail_stream._feed_with_metadata(feed text, metadata jsonb,
    replace boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the feed up to its options: the first "{" outside a quoted name
    head text := rtrim(substring(feed FROM '^((?:[^"{]|"[^"]*")*)'));
BEGIN
    IF metadata IS NULL THEN
        RETURN feed;
    END IF;
    IF head <> rtrim(feed) AND NOT replace THEN
        RAISE EXCEPTION 'feed "%" already has options', feed
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the metadata either after the feed''s table or as option "metadata", not both.';
    END IF;
    IF metadata = '{}' THEN
        RETURN head;
    END IF;
    RETURN head || ' ' || jsonb_build_object('metadata', metadata)::text;
END;
$$;

-- _check_options(): changed here too; its final form is in the limits section below

-- create_subscription(): changed here too; its final form is in the schema registries section below

-- alter_subscription(): changed here too; its final form is in the schema registries section below

DROP FUNCTION rail_stream._replay_message(text, bytea, text, text, text, integer, bigint, timestamptz, jsonb);
CREATE FUNCTION rail_stream._replay_dead_letter(id bigint) RETURNS bigint
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'rs_replay_dead_letter';


CREATE OR REPLACE FUNCTION rail_stream.replay_dead_letters(subscription text DEFAULT NULL,
    ids bigint[] DEFAULT NULL,
    OUT replayed integer, OUT failed integer, OUT rows_written bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    last_id bigint;
    not_mine integer := 0;
    cut integer := 0;
    broken integer := 0;
BEGIN
    PERFORM rail_stream._require_admin();
    replayed := 0;
    rows_written := 0;
    SELECT coalesce(max(x.id), 0) INTO last_id FROM rail_stream.dead_letters x;
    FOR d IN SELECT x.id, rail_stream._may_manage(x.written_as) AS mine,
                    x.value_length IS DISTINCT FROM octet_length(x.value) AS is_cut
             FROM rail_stream.dead_letters x
             WHERE (replay_dead_letters.subscription IS NULL
                    OR x.subscription = replay_dead_letters.subscription)
               AND (ids IS NULL OR x.id = ANY (ids))
               AND x.id <= last_id
             ORDER BY x.id LOOP
        IF NOT d.mine THEN
            not_mine := not_mine + 1;
        ELSIF d.is_cut THEN
            cut := cut + 1;
        ELSE
            -- one whose table or rights are gone is left, not the whole replay
            BEGIN
                rows_written := rows_written + rail_stream._replay_dead_letter(d.id);
                replayed := replayed + 1;
            EXCEPTION
                WHEN undefined_table OR undefined_column OR insufficient_privilege
                     OR object_not_in_prerequisite_state OR invalid_parameter_value THEN
                    broken := broken + 1;
                    RAISE NOTICE 'dead letter % was left: %', d.id, SQLERRM;
            END;
        END IF;
    END LOOP;
    IF not_mine > 0 THEN
        RAISE NOTICE '% dead letters were left: they are written with the rights of roles you may not act for', not_mine
            USING HINT = 'Superusers, and administrators who are members of the role in written_as, replay them.';
    END IF;
    IF cut > 0 THEN
        RAISE NOTICE '% dead letters were left: they hold only the start of a message over rail_stream.max_message_size', cut;
    END IF;
    SELECT count(*) INTO failed FROM rail_stream.dead_letters x WHERE x.id > last_id;
END;
$$;


-- alerts.sql
REVOKE EXECUTE ON FUNCTION rail_stream._wake_sender() FROM PUBLIC;

CREATE OR REPLACE FUNCTION rail_stream._sync_alert_config() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- it runs as the extension's owner: on no other table
    IF TG_RELID <> 'rail_stream.alert_config'::regclass THEN
        RAISE EXCEPTION 'trigger function "_sync_alert_config" only serves rail_stream.alert_config'
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM rail_stream.alert_rules r WHERE r.config_station = OLD.station;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO rail_stream.alert_rules (station, over_minutes, webhook_url, template,
                                             channel, config_station)
        VALUES (NEW.station, NEW.alert_over_mins, NEW.webhook_url, NEW.template,
                NEW.channel, NEW.station);
    END IF;
    RETURN NULL;
END;
$$;

REVOKE EXECUTE ON FUNCTION rail_stream._sync_alert_config() FROM PUBLIC;

CREATE FUNCTION rail_stream._render_template(template text, payload jsonb) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_render_template';


CREATE OR REPLACE FUNCTION rail_stream.alert_body(template text, payload jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF template IS NULL THEN
        RETURN jsonb_build_object('chat_id', nullif(current_setting('rail_stream.telegram_chat_id', true), ''),
                                  'text', payload->>'text')::text;
    END IF;
    RETURN rail_stream._render_template(template, payload);
END;
$$;


-- _raise_alerts(): changed here too; its final form is in the last section (alerts per statement)

REVOKE EXECUTE ON FUNCTION rail_stream._raise_alerts() FROM PUBLIC;


-- Enrichment in C (issue 9) ------------------------------------------------
-- The four enrichment trigger functions become C functions (src/enrich.c),
-- same names, same triggers, same results: they cache rail.locations,
-- rail.tiplocs, rail.toc_sectors and rail.cancellation_reasons in each
-- session, and a statement trigger on each of these tables drops the
-- copies when it changes.

-- enrichment.sql
CREATE OR REPLACE FUNCTION rail._enrich_movement() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_movement';

CREATE OR REPLACE FUNCTION rail._enrich_cancellation() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_cancellation';

CREATE OR REPLACE FUNCTION rail._enrich_activation() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_activation';

CREATE OR REPLACE FUNCTION rail._enrich_schedule() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_enrich_schedule';

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

REVOKE EXECUTE ON FUNCTION rail._lookup_changed() FROM PUBLIC;

-- 1.1: a narrower watcher than pg_monitor, the role rail_stream_monitor ----
-- Whether the current user may watch the pipeline: every subscription's
-- status, offsets and errors, and the webhooks' health, but no credential,
-- rule or message.  Administrators, members of pg_monitor, and members of a
-- role rail_stream_monitor (created by the administrator, like
-- rail_stream_admin): a dashboard's role then needs neither pg_monitor's
-- view of every session nor an administrator's rights.
CREATE FUNCTION rail_stream._is_monitor() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT rail_stream._is_admin()
        OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_monitor', 'USAGE')
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname OPERATOR(pg_catalog.=) 'rail_stream_monitor'
                     AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'USAGE'));
END;

ALTER POLICY read_all ON rail_stream.subscription_offsets
    USING (rail_stream._is_monitor());

CREATE OR REPLACE VIEW rail_stream.subscription_status WITH (security_barrier) AS
WITH w AS (SELECT * FROM rail_stream._worker_status()),
parts AS (
    SELECT o.subscription_id, o.partition FROM rail_stream.subscription_offsets o
    UNION
    SELECT w.subscription_id, w.partition FROM w WHERE w.partition IS NOT NULL
)
SELECT s.name AS subscription,
       s.topic,
       p.partition,
       CASE WHEN s.paused THEN 'paused'
            WHEN NOT s.enabled THEN 'disabled'
            ELSE coalesce(wp.state, ws.state, 'stopped') END AS state,
       c.committed_offset,
       wp.high_watermark,
       wp.high_watermark - c.committed_offset AS lag,
       wp.last_message_at,
       wp.last_event_at,
       CASE WHEN wp.high_watermark - c.committed_offset > 0
            THEN extract(epoch FROM pg_catalog.now() - wp.last_message_at)
            WHEN wp.high_watermark IS NOT NULL THEN 0 END AS lag_seconds,
       wp.messages_per_second,
       coalesce(wp.batches, ws.batches) AS batches,
       (SELECT count(*) FROM rail_stream.dead_letters d
        WHERE d.subscription = s.name AND d.partition IS NOT DISTINCT FROM p.partition) AS dead_letters,
       coalesce(wp.last_error, ws.last_error) AS last_error,
       coalesce(wp.last_error_at, ws.last_error_at) AS last_error_at,
       coalesce(wp.pid, ws.pid) AS pid
FROM rail_stream.subscriptions s
LEFT JOIN parts p ON p.subscription_id = s.id
LEFT JOIN w wp ON wp.subscription_id = s.id AND wp.partition = p.partition
LEFT JOIN LATERAL (SELECT * FROM w WHERE w.subscription_id = s.id
                   ORDER BY w.worker_index LIMIT 1) ws ON true
LEFT JOIN rail_stream.subscription_offsets o
       ON o.subscription_id = s.id AND o.partition = p.partition
CROSS JOIN LATERAL (SELECT CASE WHEN coalesce(wp.committed_offset, o.next_offset) >= 0
                                THEN coalesce(wp.committed_offset, o.next_offset) END
                           AS committed_offset) c
WHERE rail_stream._is_monitor()
   OR pg_catalog.pg_has_role(CURRENT_USER, s.owner, 'USAGE');

CREATE OR REPLACE VIEW rail_stream.webhook_health WITH (security_barrier) AS
SELECT rail_stream.webhook_endpoint(r.webhook_url) AS endpoint,
       count(*) FILTER (WHERE a.state = 'pending') AS pending,
       count(*) FILTER (WHERE a.state = 'sending') AS sending,
       count(*) FILTER (WHERE a.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE a.state = 'failed') AS failed,
       sum(a.attempts) AS attempts,
       max(a.delivered_at) AS last_delivered_at,
       max(a.last_attempt_at) AS last_attempt_at,
       min(a.created_at) FILTER (WHERE a.state IN ('pending', 'sending')) AS oldest_waiting_since,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.delivered_at - a.created_at))
           FILTER (WHERE a.state = 'delivered') AS median_delivery_seconds,
       (array_agg(a.last_status ORDER BY a.last_attempt_at DESC)
           FILTER (WHERE a.last_attempt_at IS NOT NULL))[1] AS last_status,
       -- a receiver may echo the URL's path (the token): administrators only
       CASE WHEN rail_stream._is_admin() THEN
           (array_agg(a.last_error ORDER BY a.last_attempt_at DESC)
               FILTER (WHERE a.last_error IS NOT NULL))[1] END AS last_error
FROM rail_stream.alerts a
JOIN rail_stream.alert_rules r ON r.id = a.rule_id
WHERE r.webhook_url IS NOT NULL
  AND rail_stream._is_monitor()
GROUP BY 1;


-- Alerts to Kafka (issue 12) ----------------------------------------------
-- A rule may send its alerts to a Kafka topic instead of a webhook: the
-- sender produces each alert with an idempotent producer, keyed by the rule
-- and the movement, with its idempotency key in a header.  The rule's
-- librdkafka properties pass the subscriptions' allowlist, for a producer,
-- on every write and again in C; webhook_health shows Kafka topics too.

-- subscriptions.sql
DROP FUNCTION rail_stream._check_kafka_property(text, text);
CREATE FUNCTION rail_stream._check_kafka_property(name text, value text,
    producer boolean DEFAULT false) RETURNS void
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_check_kafka_property';

CREATE FUNCTION rail_stream._check_kafka_properties(properties jsonb,
    producer boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p text;
    pv jsonb;
BEGIN
    FOR p, pv IN SELECT * FROM jsonb_each(properties) LOOP
        -- the value is not shown: it may be a password
        IF jsonb_typeof(pv) IN ('object', 'array', 'null') THEN
            RAISE EXCEPTION 'invalid value for Kafka property "%": a JSON % is not a setting', p, jsonb_typeof(pv)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Give each property a string, number or boolean.';
        END IF;
        PERFORM rail_stream._check_kafka_property(p, pv #>> '{}', producer);
    END LOOP;
    RETURN (SELECT coalesce(jsonb_object_agg(e.key, e.value #>> '{}'), '{}')
            FROM jsonb_each(properties) e);
END;
$$;

-- _check_options(): changed here too; its final form is in the limits section below

-- alerts.sql
ALTER TABLE rail_stream.alert_rules
    ADD COLUMN kafka_topic text CHECK (kafka_topic ~ '^[A-Za-z0-9._-]{1,249}$'
                                       AND kafka_topic NOT IN ('.', '..')),
    ADD COLUMN kafka_brokers text,
    ADD COLUMN kafka_properties jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT one_destination CHECK (webhook_url IS NULL OR kafka_topic IS NULL),
    ADD CONSTRAINT kafka_settings_need_topic
        CHECK (kafka_topic IS NOT NULL OR (kafka_brokers IS NULL AND kafka_properties = '{}'));
COMMENT ON TABLE rail_stream.alert_rules IS
    'Delay alert rules: a station, a threshold in minutes, a NOTIFY channel and an optional webhook or Kafka topic';

CREATE FUNCTION rail_stream._check_alert_rule() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_RELID <> 'rail_stream.alert_rules'::regclass THEN
        RAISE EXCEPTION 'trigger function "_check_alert_rule" only checks rail_stream.alert_rules'
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF jsonb_typeof(NEW.kafka_properties) <> 'object' THEN
        RAISE EXCEPTION 'invalid Kafka properties for station "%"', NEW.station
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give librdkafka properties as an object, as in {"security.protocol": "ssl"}.';
    END IF;
    NEW.kafka_properties := rail_stream._check_kafka_properties(NEW.kafka_properties, true);
    RETURN NEW;
END;
$$;
REVOKE EXECUTE ON FUNCTION rail_stream._check_alert_rule() FROM PUBLIC;
CREATE TRIGGER check_rule BEFORE INSERT OR UPDATE ON rail_stream.alert_rules
    FOR EACH ROW EXECUTE FUNCTION rail_stream._check_alert_rule();

CREATE FUNCTION rail_stream.alert_endpoint(webhook_url text, kafka_topic text,
    kafka_brokers text DEFAULT NULL)
RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_alert_endpoint';
COMMENT ON FUNCTION rail_stream.alert_endpoint(text, text, text) IS
    'The destination of a rule''s alerts: the scheme, host and port of its webhook, or kafka://brokers/topic';

CREATE OR REPLACE VIEW rail_stream.webhook_health WITH (security_barrier) AS
SELECT rail_stream.alert_endpoint(r.webhook_url, r.kafka_topic, r.kafka_brokers) AS endpoint,
       count(*) FILTER (WHERE a.state = 'pending') AS pending,
       count(*) FILTER (WHERE a.state = 'sending') AS sending,
       count(*) FILTER (WHERE a.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE a.state = 'failed') AS failed,
       sum(a.attempts) AS attempts,
       max(a.delivered_at) AS last_delivered_at,
       max(a.last_attempt_at) AS last_attempt_at,
       min(a.created_at) FILTER (WHERE a.state IN ('pending', 'sending')) AS oldest_waiting_since,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.delivered_at - a.created_at))
           FILTER (WHERE a.state = 'delivered') AS median_delivery_seconds,
       (array_agg(a.last_status ORDER BY a.last_attempt_at DESC)
           FILTER (WHERE a.last_attempt_at IS NOT NULL))[1] AS last_status,
       -- a receiver may echo the URL's path (the token): administrators only
       CASE WHEN rail_stream._is_admin() THEN
           (array_agg(a.last_error ORDER BY a.last_attempt_at DESC)
               FILTER (WHERE a.last_error IS NOT NULL))[1] END AS last_error
FROM rail_stream.alerts a
JOIN rail_stream.alert_rules r ON r.id = a.rule_id
WHERE (r.webhook_url IS NOT NULL OR r.kafka_topic IS NOT NULL)
  AND rail_stream._is_monitor()
GROUP BY 1;
COMMENT ON VIEW rail_stream.webhook_health IS
    'Alert delivery per webhook endpoint and Kafka topic: states, attempts, latency and the last error';

DROP FUNCTION rail_stream.add_alert_rule(text, integer, text, text, text);
CREATE FUNCTION rail_stream.add_alert_rule(station text, over_minutes integer,
    webhook_url text DEFAULT NULL, template text DEFAULT NULL,
    channel text DEFAULT 'rail_stream_alerts', kafka_topic text DEFAULT NULL,
    kafka_brokers text DEFAULT NULL, kafka_properties jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    IF station IS NULL OR over_minutes IS NULL OR channel IS NULL THEN
        RAISE EXCEPTION 'station, threshold and channel must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT rail_stream._is_json(template) THEN
        RAISE EXCEPTION 'invalid template for station "%": it must be JSON', station
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write the request body as JSON, with {{text}} inside a string where the message goes.';
    END IF;
    IF webhook_url IS NOT NULL AND kafka_topic IS NOT NULL THEN
        RAISE EXCEPTION 'alert rule for station "%" has two destinations', station
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A rule sends its alerts to a webhook or to a Kafka topic, not both.',
                  HINT = 'Add one rule for each.';
    END IF;
    IF kafka_topic IS NULL AND (kafka_brokers IS NOT NULL OR kafka_properties IS NOT NULL) THEN
        RAISE EXCEPTION 'Kafka brokers and properties for station "%" need a Kafka topic', station
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO rail_stream.alert_rules AS r (station, over_minutes, webhook_url, template,
                                              channel, kafka_topic, kafka_brokers, kafka_properties)
    VALUES (station, over_minutes, webhook_url, template, channel, kafka_topic, kafka_brokers,
            coalesce(kafka_properties, '{}'))
    RETURNING r.id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid alert rule for station "%"', station
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The threshold must not be negative, the webhook URL must be http or https with a host and without user name or password, the channel an identifier, and the Kafka topic 1 to 249 letters, digits, dots, dashes and underscores.';
END;
$$;
COMMENT ON FUNCTION rail_stream.add_alert_rule(text, integer, text, text, text, text, text, jsonb) IS
    'Alert when a movement at the station is late by more than over_minutes';

-- _raise_alerts(): changed here too; its final form is in the last section (alerts per statement)

-- Late activations back-fill (issue 12) ----------------------------------
-- An activation or a schedule written after movements of its train fills
-- them in the same transaction (src/backfill.c has the design); the C
-- enrichment takes an activation only for the messages of its run.

-- backfill.sql
-- The rows that wait, and only those: a row enriched on arrival never
-- enters these indexes.
CREATE INDEX movements_waiting ON rail.movements (schedule_key, train_id)
    WHERE schedule_num_stops IS NULL;
CREATE INDEX cancellations_waiting ON rail.cancellations (train_id)
    WHERE schedule_key IS NULL;

CREATE FUNCTION rail._backfill_from_activations() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_backfill_from_activations';

CREATE FUNCTION rail._backfill_from_schedules() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_backfill_from_schedules';

REVOKE EXECUTE ON FUNCTION rail._backfill_from_activations(),
    rail._backfill_from_schedules() FROM PUBLIC;

-- a trigger with transition tables serves one event
CREATE TRIGGER backfill_insert AFTER INSERT ON rail.activations
    REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
CREATE TRIGGER backfill_update AFTER UPDATE ON rail.activations
    REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
CREATE TRIGGER backfill_insert AFTER INSERT ON rail.schedules
    REFERENCING NEW TABLE AS new_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_schedules();
CREATE TRIGGER backfill_update AFTER UPDATE ON rail.schedules
    REFERENCING NEW TABLE AS new_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_schedules();

-- ingest_messages: many messages written as one batch, as a worker writes
-- them (statement triggers run once per batch, not once per message)
CREATE FUNCTION rail_stream.ingest_messages(feed text, messages text[], keys text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_messages';
COMMENT ON FUNCTION rail_stream.ingest_messages(text, text[], text[]) IS
    'Run many messages through the transform and upsert path as a worker''s batch (one statement per table per batch_size messages); returns the rows written';

CREATE FUNCTION rail_stream.ingest_messages(feed text, messages bytea[], keys text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_messages';
COMMENT ON FUNCTION rail_stream.ingest_messages(text, bytea[], text[]) IS
    'Run many messages, as raw bytes, through the transform and upsert path as a worker''s batch; returns the rows written';

-- Avro values with a schema registry (issue 12): feed options
-- "value_format" and "schema_registry" (src/transform.c), which a
-- subscription's options may also give, as "metadata"; the registries; and
-- decode_avro() for looking into Avro dead letters
DROP FUNCTION rail_stream._feed_with_metadata(text, jsonb, boolean);

CREATE FUNCTION rail_stream._feed_with_options(feed text, options jsonb,
    replace boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the feed up to its options: the first "{" outside a quoted name
    head text := rtrim(substring(feed FROM '^((?:[^"{]|"[^"]*")*)'));
    given jsonb := nullif(btrim(substr(feed, length(head) + 1)), '')::jsonb;
    wanted jsonb := jsonb_strip_nulls(jsonb_build_object(
        'value_format', options -> 'value_format',
        'schema_registry', options -> 'schema_registry',
        'metadata', options -> 'metadata'));
    k text;
BEGIN
    IF wanted = '{}' THEN
        RETURN feed;
    END IF;
    IF jsonb_typeof(given) = 'object' THEN
        FOR k IN SELECT jsonb_object_keys(wanted) LOOP
            IF given ? k AND NOT replace THEN
                RAISE EXCEPTION 'feed "%" already has option "%"', feed, k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give a feed option either after the feed''s table or among the subscription''s options, not both.';
            END IF;
        END LOOP;
    ELSE
        given := '{}';
    END IF;
    -- JSON values need no registry; no metadata is {}
    IF wanted ->> 'value_format' = 'json' THEN
        given := given - 'schema_registry';
    END IF;
    given := given || wanted;
    IF given -> 'metadata' = '{}' THEN
        given := given - 'metadata';
    END IF;
    RETURN head || CASE WHEN given = '{}' THEN '' ELSE ' ' || given::text END;
END;
$$;

-- _check_options(): changed here too; its final form is in the limits section below

CREATE OR REPLACE FUNCTION rail_stream.create_subscription(name text, topic text, feed text,
    brokers text DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o jsonb;
    new_id bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    IF name IS NULL OR topic IS NULL OR feed IS NULL THEN
        RAISE EXCEPTION 'name, topic and feed must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    o := rail_stream._check_options(coalesce(options, '{}'));
    -- the feed is checked for the owner by the trigger _check_subscription
    INSERT INTO rail_stream.subscriptions AS s (name, topic, feed, brokers,
        start_position, batch_size, batch_ms, parallelism, kafka_properties)
    VALUES (name, topic, rail_stream._feed_name(rail_stream._feed_with_options(feed, o)), brokers,
            coalesce(o ->> 'start', 'earliest'),
            (o ->> 'batch_size')::int, (o ->> 'batch_ms')::int,
            coalesce((o ->> 'parallelism')::int, 1), coalesce(o -> 'kafka', '{}'))
    RETURNING s.id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'subscription "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid subscription name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A name has 1 to 100 letters, digits, dots, dashes and underscores; it names the Kafka consumer group.';
END;
$$;

CREATE OR REPLACE FUNCTION rail_stream.alter_subscription(name text, topic text DEFAULT NULL,
    feed text DEFAULT NULL, brokers text DEFAULT NULL, options jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
    o jsonb;
BEGIN
    PERFORM rail_stream._require_admin();
    s := rail_stream._subscription(name);
    o := rail_stream._check_options(coalesce(options, '{}'));
    UPDATE rail_stream.subscriptions u SET
        topic = coalesce(alter_subscription.topic, u.topic),
        feed = CASE WHEN o ?| ARRAY['value_format', 'schema_registry', 'metadata']
                    THEN rail_stream._feed_name(rail_stream._feed_with_options(
                        coalesce(alter_subscription.feed, u.feed), o, true))
                    ELSE coalesce(rail_stream._feed_name(alter_subscription.feed), u.feed) END,
        brokers = coalesce(alter_subscription.brokers, u.brokers),
        start_position = coalesce(o ->> 'start', u.start_position),
        batch_size = coalesce((o ->> 'batch_size')::int, u.batch_size),
        batch_ms = coalesce((o ->> 'batch_ms')::int, u.batch_ms),
        parallelism = coalesce((o ->> 'parallelism')::int, u.parallelism),
        kafka_properties = coalesce(o -> 'kafka', u.kafka_properties),
        config_version = u.config_version + 1
    WHERE u.id = s.id;
    -- offsets belong to the topic they were read from
    IF alter_subscription.topic IS NOT NULL AND alter_subscription.topic <> s.topic THEN
        DELETE FROM rail_stream.subscription_offsets WHERE subscription_id = s.id;
    END IF;
END;
$$;


-- Schema registries: where Avro feeds get the schema of a value's id.
--
-- A feed reads Avro values when its options say so, as in
--   json:public.readings {"value_format": "avro", "schema_registry": "local"}
-- (src/schema_registry.c).  A registry is a row here: its URL (the
-- Confluent-compatible API) and credentials, which only its owner's members
-- (and superusers) read or change, as for subscriptions; a feed may name it
-- only if the role that writes the feed is a member of its owner.

CREATE TABLE rail_stream.schema_registries (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    url         text NOT NULL CHECK (url ~ '^https?://[^/?#@]+([/?#]|$)'),
    username    text,
    password    text,
    owner       regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (password IS NULL OR username IS NOT NULL)
);
COMMENT ON TABLE rail_stream.schema_registries IS
    'Schema registries of Avro feeds (password is a credential)';
ALTER TABLE rail_stream.schema_registries ENABLE ROW LEVEL SECURITY;
-- as for subscriptions: administrators see and change the registries of
-- roles they are members of; superusers all
CREATE POLICY managers_only ON rail_stream.schema_registries
    USING (rail_stream._may_manage(owner))
    WITH CHECK (rail_stream._is_admin() AND rail_stream._may_manage(owner));
REVOKE ALL ON rail_stream.schema_registries FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.schema_registries TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.schema_registries', '');

CREATE FUNCTION rail_stream.create_schema_registry(name text, url text,
    username text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    INSERT INTO rail_stream.schema_registries (name, url, username, password)
    VALUES (name, rtrim(url, '/'), username, password);
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'schema registry "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid schema registry "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A name has 1 to 100 letters, digits, dots, dashes and underscores; the URL starts with http:// or https:// and has no credentials in it; a password needs a username.';
END;
$$;
COMMENT ON FUNCTION rail_stream.create_schema_registry(text, text, text, text) IS
    'Name a schema registry (its Confluent-compatible API) for Avro feeds';

CREATE FUNCTION rail_stream.alter_schema_registry(name text, url text DEFAULT NULL,
    username text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    UPDATE rail_stream.schema_registries r SET
        url = coalesce(rtrim(alter_schema_registry.url, '/'), r.url),
        username = coalesce(alter_schema_registry.username, r.username),
        password = coalesce(alter_schema_registry.password, r.password)
    WHERE r.name = alter_schema_registry.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema registry "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid schema registry "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The URL starts with http:// or https:// and has no credentials in it; a password needs a username.';
END;
$$;
COMMENT ON FUNCTION rail_stream.alter_schema_registry(text, text, text, text) IS
    'Change a schema registry''s URL or credentials; workers ask it for new schemas only';

CREATE FUNCTION rail_stream.drop_schema_registry(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.schema_registries r WHERE r.name = drop_schema_registry.name;
    IF NOT FOUND AND NOT if_exists THEN
        RAISE EXCEPTION 'schema registry "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_schema_registry(text, boolean) IS
    'Forget a schema registry; feeds that name it stop reading Avro values';

-- An Avro binary value (without the wire format's 5-byte header) as JSON,
-- as an Avro feed reads it: for looking into dead letters, as in
--   SELECT rail_stream.decode_avro(substr(value, 6), '<schema>') FROM ...
CREATE FUNCTION rail_stream.decode_avro(value bytea, schema text)
RETURNS jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rs_decode_avro';
COMMENT ON FUNCTION rail_stream.decode_avro(bytea, text) IS
    'An Avro binary value, written with the given schema, as the JSON an Avro feed reads';

-- The limits of a subscription's settings have one home, src/guc.h, which
-- the table's checks and _check_options() read (issue 13)
-- The limits of the settings a subscription may set (src/guc.h)
CREATE FUNCTION rail_stream._option_limits() RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_option_limits';

CREATE FUNCTION rail_stream._within_limits(option text, value integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN value BETWEEN (rail_stream._option_limits() -> option ->> 0)::int
                 AND (rail_stream._option_limits() -> option ->> 1)::int;

ALTER TABLE rail_stream.subscriptions
    DROP CONSTRAINT subscriptions_batch_size_check,
    DROP CONSTRAINT subscriptions_batch_ms_check,
    DROP CONSTRAINT subscriptions_parallelism_check,
    ADD CONSTRAINT subscriptions_batch_size_check
        CHECK (rail_stream._within_limits('batch_size', batch_size)),
    ADD CONSTRAINT subscriptions_batch_ms_check
        CHECK (rail_stream._within_limits('batch_ms', batch_ms)),
    ADD CONSTRAINT subscriptions_parallelism_check
        CHECK (rail_stream._within_limits('parallelism', parallelism));
CREATE OR REPLACE FUNCTION rail_stream._check_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
    result jsonb := '{}';
    n numeric;
    -- a subscription has at most as many workers as the server
    limits constant jsonb := jsonb_set(rail_stream._option_limits(), '{parallelism,1}',
        coalesce(to_jsonb(current_setting('rail_stream.max_workers', true)::int),
                 rail_stream._option_limits() #> '{parallelism,1}'));
BEGIN
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'subscription options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(options) LOOP
        IF k = 'start' THEN
            IF jsonb_typeof(v) <> 'string' THEN
                RAISE EXCEPTION 'invalid value for option "start": %', v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Use "earliest", "latest" or a timestamp.';
            ELSIF v #>> '{}' IN ('earliest', 'latest') THEN
                result := result || jsonb_build_object(k, v);
            ELSE
                BEGIN
                    result := result || jsonb_build_object(k,
                        to_char((v #>> '{}')::timestamptz AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
                EXCEPTION WHEN data_exception THEN
                    RAISE EXCEPTION 'invalid value for option "start": %', v
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'Use "earliest", "latest" or a timestamp.';
                END;
            END IF;
        ELSIF limits ? k THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
               OR (v #>> '{}')::numeric NOT BETWEEN (limits -> k ->> 0)::numeric AND (limits -> k ->> 1)::numeric THEN
                RAISE EXCEPTION 'invalid value for option "%": %', k, v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = format('Use an integer from %s to %s.', limits -> k ->> 0, limits -> k ->> 1);
            END IF;
            result := result || jsonb_build_object(k, v);
        ELSIF k = 'kafka' THEN
            IF jsonb_typeof(v) <> 'object' THEN
                RAISE EXCEPTION 'invalid value for option "kafka": %', v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give librdkafka properties as an object, as in {"security.protocol": "ssl"}.';
            END IF;
            result := result || jsonb_build_object(k, rail_stream._check_kafka_properties(v));
        ELSIF k IN ('value_format', 'schema_registry') THEN
            -- feed options, checked with the feed (src/transform.c)
            IF jsonb_typeof(v) <> 'string' THEN
                RAISE EXCEPTION 'invalid value for option "%": %', k, v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = CASE k WHEN 'value_format' THEN 'Use "json" or "avro".'
                                 ELSE 'Name a registry made with rail_stream.create_schema_registry().' END;
            END IF;
            result := result || jsonb_build_object(k, v);
        ELSIF k = 'metadata' THEN
            -- columns of a json: feed's table that take the Kafka metadata;
            -- the names are checked with the feed (src/generic.c), which
            -- keeps them after its table
            IF jsonb_typeof(v) <> 'object' THEN
                RAISE EXCEPTION 'invalid value for option "metadata": %', v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give an object of columns and what each holds, as in {"kafka_offset": "offset"}.';
            END IF;
            result := result || jsonb_build_object(k, v);
        ELSE
            RAISE EXCEPTION 'unrecognized subscription option "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The options are start, batch_size, batch_ms, parallelism, kafka, value_format, schema_registry and metadata.';
        END IF;
    END LOOP;
    RETURN result;
END;
$$;


-- Alerts are raised per statement, not per late movement (issue 9): one
-- INSERT of the matching rules' alerts for all the rows a statement wrote
DROP TRIGGER raise_alerts ON rail.movements;
-- AFTER statement triggers on rail.movements: the matching rules' alerts
-- for the LATE movements a statement inserted or updated, in one INSERT
-- (a batch of a worker costs one statement, not one call per late
-- movement).  Runs as the extension's owner, since the rules and the outbox
-- are private.  An alert is unique per rule and movement: a re-sent or
-- corrected movement does not alert twice.
CREATE OR REPLACE FUNCTION rail_stream._raise_alerts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
    notice text;
BEGIN
    -- it runs as the extension's owner: on no other table
    IF TG_RELID <> 'rail.movements'::regclass THEN
        RAISE EXCEPTION 'trigger function "_raise_alerts" only serves rail.movements'
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rail_stream.alert_rules x WHERE x.enabled) THEN
        RETURN NULL;
    END IF;
    FOR a IN
        WITH matched AS (
            SELECT r.id AS rule_id, r.channel, r.webhook_url, r.kafka_topic, r.template,
                   n.msg_key, txt.message,
                   jsonb_build_object('rule_id', r.id, 'station', r.station,
                       'threshold_minutes', r.over_minutes, 'msg_key', n.msg_key,
                       'train_id', n.train_id, 'train_uid', n.train_uid,
                       'location', n.loc_name, 'stanox', n.loc_stanox,
                       'origin', n.origin_name, 'toc', n.toc_name,
                       'variation', n.variation, 'minutes_late', n.timetable_variation,
                       'actual_timestamp', n.actual_timestamp,
                       'text', txt.message) AS payload
            FROM new_movements n
            LEFT JOIN rail.tiplocs t ON t.tiploc_code = n.loc_tiploc
            JOIN rail_stream.alert_rules r
              ON r.enabled AND n.timetable_variation > r.over_minutes
             AND upper(r.station) IN (upper(n.loc_name), upper(t.tps_description),
                                      n.loc_tiploc, n.loc_stanox, n.loc_crs)
            CROSS JOIN LATERAL (SELECT rail_stream.alert_text(n, r.over_minutes)) AS txt(message)
            WHERE n.variation_status = 'LATE'
              -- not for trains that start at the station
              AND NOT coalesce(n.origin_tiploc = n.loc_tiploc, false)
        ),
        queued AS (
            INSERT INTO rail_stream.alerts AS x (rule_id, msg_key, channel, message, payload,
                                                 body, state, next_attempt_at)
            SELECT m.rule_id, m.msg_key, m.channel, m.message, m.payload,
                   CASE WHEN m.webhook_url IS NOT NULL
                        THEN rail_stream.alert_body(m.template, m.payload)
                        WHEN m.kafka_topic IS NOT NULL
                        THEN coalesce(rail_stream._render_template(m.template, m.payload),
                                      m.payload::text) END,
                   CASE WHEN coalesce(m.webhook_url, m.kafka_topic) IS NULL THEN 'notify only' ELSE 'pending' END,
                   CASE WHEN coalesce(m.webhook_url, m.kafka_topic) IS NOT NULL THEN pg_catalog.now() END
            FROM matched m
            ORDER BY m.msg_key, m.rule_id
            ON CONFLICT (rule_id, msg_key) DO NOTHING
            RETURNING x.id, x.rule_id, x.channel, x.payload
        )
        SELECT * FROM queued ORDER BY id
    LOOP
        -- NOTIFY takes less than 8000 bytes: a longer payload is cut to the
        -- alert's ids (the row has it all), never failing the movement
        notice := (a.payload || jsonb_build_object('alert_id', a.id))::text;
        IF octet_length(notice) >= 8000 THEN
            notice := jsonb_build_object('alert_id', a.id, 'rule_id', a.rule_id,
                                         'truncated', true)::text;
        END IF;
        PERFORM pg_notify(a.channel, notice);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER raise_alerts_insert AFTER INSERT ON rail.movements
    REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._raise_alerts();
CREATE TRIGGER raise_alerts_update AFTER UPDATE ON rail.movements
    REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._raise_alerts();
