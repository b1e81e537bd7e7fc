
-- Subscriptions: Kafka topics that the ingest workers consume ---------------
--
-- Managing subscriptions is for superusers and members of the role
-- rail_stream_admin (created by the administrator, not by the extension).
-- Row-level security enforces it on the tables; the functions check first,
-- to say so plainly.  Changes reach the launcher when they commit.

CREATE FUNCTION rail_stream._is_admin() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname OPERATOR(pg_catalog.=) 'rail_stream_admin'
                     AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'MEMBER'));
END;

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

CREATE FUNCTION rail_stream._require_admin() RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT rail_stream._is_admin() THEN
        RAISE EXCEPTION 'permission denied to manage rail_stream subscriptions and alert rules'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only superusers and members of role "rail_stream_admin" manage them.',
                  HINT = format('GRANT rail_stream_admin TO %I;', CURRENT_USER);
    END IF;
END;
$$;

-- Whether the current user may change or drop the subscriptions of a role:
-- a superuser, or an administrator who is a member of that role.  Workers
-- run with their owner's rights, so a superuser's subscriptions are changed
-- by superusers only, and nobody redirects another team's subscription.
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

-- The limits of the settings a subscription may set (src/guc.h)
CREATE FUNCTION rail_stream._option_limits() RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_option_limits';

CREATE FUNCTION rail_stream._within_limits(option text, value integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN value BETWEEN (rail_stream._option_limits() -> option ->> 0)::int
                 AND (rail_stream._option_limits() -> option ->> 1)::int;

CREATE TABLE rail_stream.subscriptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE
                        CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    topic               text NOT NULL,
    feed                text NOT NULL,
    brokers             text,
    start_position      text NOT NULL DEFAULT 'earliest',
    batch_size          integer CHECK (rail_stream._within_limits('batch_size', batch_size)),
    batch_ms            integer CHECK (rail_stream._within_limits('batch_ms', batch_ms)),
    parallelism         integer NOT NULL DEFAULT 1
                        CHECK (rail_stream._within_limits('parallelism', parallelism)),
    kafka_properties    jsonb NOT NULL DEFAULT '{}',
    owner               regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    enabled             boolean NOT NULL DEFAULT true,
    paused              boolean NOT NULL DEFAULT false,
    config_version      integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE rail_stream.subscriptions IS
    'Kafka topics consumed by the ingest workers (kafka_properties may hold credentials)';
ALTER TABLE rail_stream.subscriptions ENABLE ROW LEVEL SECURITY;
-- settings may hold credentials: an administrator sees (and changes) the
-- subscriptions of roles it is a member of; superusers see all
-- (the trigger _check_subscription says why a change is refused)
CREATE POLICY managers_only ON rail_stream.subscriptions
    USING (rail_stream._may_manage(owner)) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.subscriptions FROM PUBLIC;
-- rows are visible to administrators only (the policy above)
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.subscriptions TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.subscriptions', '');

-- Every change to rail_stream.subscriptions, through the API or not, passes
-- these checks: who may change the row, who may own it, what its feed may
-- write as that owner, and which options reach librdkafka.  (The worker
-- checks the librdkafka properties once more before using them.)
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
CREATE TRIGGER check_subscription BEFORE INSERT OR UPDATE OR DELETE ON rail_stream.subscriptions
    FOR EACH ROW EXECUTE FUNCTION rail_stream._check_subscription();

-- Where each partition of each subscription has got: the next offset to
-- read, written in the same transaction as the rows of the messages before
-- it.  -2 and -1 stand for "earliest" and "latest" after reset_offsets().
CREATE TABLE rail_stream.subscription_offsets (
    subscription_id     bigint NOT NULL REFERENCES rail_stream.subscriptions ON DELETE CASCADE,
    partition           integer NOT NULL,
    next_offset         bigint NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (subscription_id, partition)
);
COMMENT ON TABLE rail_stream.subscription_offsets IS
    'Per partition, the next Kafka offset to read; committed with the rows (exactly once)';
ALTER TABLE rail_stream.subscription_offsets ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON rail_stream.subscription_offsets FOR SELECT
    USING (rail_stream._is_monitor());
-- offsets are moved by those who may change the subscription
CREATE POLICY managers_write ON rail_stream.subscription_offsets
    USING (rail_stream._may_manage((SELECT s.owner FROM rail_stream.subscriptions s
                                    WHERE s.id OPERATOR(pg_catalog.=) subscription_id)))
    WITH CHECK (rail_stream._may_manage((SELECT s.owner FROM rail_stream.subscriptions s
                                         WHERE s.id OPERATOR(pg_catalog.=) subscription_id)));
REVOKE ALL ON rail_stream.subscription_offsets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.subscription_offsets TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.subscription_offsets', '');

CREATE INDEX ON rail_stream.dead_letters (subscription, partition);
ALTER TABLE rail_stream.dead_letters ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_read ON rail_stream.dead_letters FOR SELECT
    USING (rail_stream._is_admin());
CREATE POLICY managers_delete ON rail_stream.dead_letters FOR DELETE
    USING (rail_stream._may_manage(written_as));
GRANT SELECT, DELETE ON rail_stream.dead_letters TO PUBLIC;

CREATE FUNCTION rail_stream._wake_launcher() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'rs_wake_launcher';
REVOKE EXECUTE ON FUNCTION rail_stream._wake_launcher() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rail_stream._check_subscription() FROM PUBLIC;
CREATE TRIGGER wake_launcher AFTER INSERT OR UPDATE OR DELETE ON rail_stream.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._wake_launcher();

CREATE FUNCTION rail_stream._feed_target(feed text) RETURNS regclass
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_check_feed';

CREATE FUNCTION rail_stream._feed_name(feed text) RETURNS text
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_feed_name';

-- The tables a feed writes and the privileges a writer needs on them, as
-- the feed's file in src/ declares them.
CREATE FUNCTION rail_stream._feed_tables(feed text,
    OUT tables regclass[], OUT privileges text[])
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_list_feed_tables';

-- Whether a subscription (or, with producer, an alert rule) may set a
-- librdkafka property, and librdkafka accepts its value.  Properties that
-- load libraries, run commands or read files are refused before librdkafka
-- sees them, so admins may call it.
CREATE FUNCTION rail_stream._check_kafka_property(name text, value text,
    producer boolean DEFAULT false) RETURNS void
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_check_kafka_property';

-- The librdkafka properties of a subscription (or, with producer, of an
-- alert rule), a JSON object, checked one by one and returned with every
-- value as a string.  Only connection, security (PEM strings, not files)
-- and, for subscriptions, fetch settings: the list is in C (src/kafka.c),
-- which checks it again before librdkafka sees a property.
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

-- The owner of a subscription must be able to write what its feed writes:
-- upserts read the rows they update (SELECT), and Delete transactions and
-- tombstones delete rows.  Also checked by ingest_message() for its caller,
-- and after a permission error, to tell a lost grant (stop) from a row that
-- a row-level security policy refuses (a dead letter).
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

-- A feed with the feed options of a subscription ("value_format",
-- "schema_registry", "metadata") written after its table, as in
-- 'json:public.events {"metadata": {"kafka_offset": "offset"}}', the form
-- that the worker, ingest_message() and replays read.  With replace,
-- options the feed has already give way; else naming one twice is an
-- error.  The result is checked and made canonical by _feed_name().
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

-- Check the options of a subscription; returns them normalised.
CREATE FUNCTION rail_stream._check_options(options jsonb) RETURNS jsonb
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

CREATE FUNCTION rail_stream._subscription(name text) RETURNS rail_stream.subscriptions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
BEGIN
    SELECT * INTO s FROM rail_stream.subscriptions WHERE subscriptions.name = _subscription.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN s;
END;
$$;

CREATE FUNCTION rail_stream.create_subscription(name text, topic text, feed text,
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
COMMENT ON FUNCTION rail_stream.create_subscription(text, text, text, text, jsonb) IS
    'Consume a Kafka topic into the feed''s tables, exactly once; runs at commit';

CREATE FUNCTION rail_stream.alter_subscription(name text, topic text DEFAULT NULL,
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
COMMENT ON FUNCTION rail_stream.alter_subscription(text, text, text, text, jsonb) IS
    'Change a subscription; its workers restart with the change at commit';

CREATE FUNCTION rail_stream.drop_subscription(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.subscriptions s WHERE s.name = drop_subscription.name;
    IF NOT FOUND AND NOT if_exists THEN
        RAISE EXCEPTION 'subscription "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_subscription(text, boolean) IS
    'Stop and remove a subscription and its stored offsets (the rows it wrote stay)';

CREATE FUNCTION rail_stream.pause_subscription(name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    PERFORM rail_stream._subscription(name);
    UPDATE rail_stream.subscriptions s SET paused = true WHERE s.name = pause_subscription.name;
END;
$$;
COMMENT ON FUNCTION rail_stream.pause_subscription(text) IS
    'Stop consuming at commit; the stored offsets stay where they are';

CREATE FUNCTION rail_stream.resume_subscription(name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    PERFORM rail_stream._subscription(name);
    UPDATE rail_stream.subscriptions s SET paused = false WHERE s.name = resume_subscription.name;
END;
$$;
COMMENT ON FUNCTION rail_stream.resume_subscription(text) IS
    'Consume again from the stored offsets';

-- reset_offsets(name, to): to is 'earliest', 'latest', a timestamp, or a
-- JSON object of offsets per partition, as '{"0": 1200, "3": 0}'.
CREATE FUNCTION rail_stream.reset_offsets(name text, "to" text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
    positions jsonb;
    p text;
    v jsonb;
BEGIN
    PERFORM rail_stream._require_admin();
    s := rail_stream._subscription(name);
    IF "to" IS NULL THEN
        RAISE EXCEPTION 'reset position must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF left(ltrim("to"), 1) = '{' THEN
        positions := "to"::jsonb;
        FOR p, v IN SELECT * FROM jsonb_each(positions) LOOP
            IF p !~ '^[0-9]+$' OR jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric < 0
               OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric) THEN
                RAISE EXCEPTION 'invalid offset for partition %: %', p, v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give each partition a non-negative offset, as in {"0": 1200}.';
            END IF;
            INSERT INTO rail_stream.subscription_offsets AS o (subscription_id, partition, next_offset)
            VALUES (s.id, p::int, (v #>> '{}')::bigint)
            ON CONFLICT (subscription_id, partition)
            DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = pg_catalog.now();
        END LOOP;
    ELSE
        DELETE FROM rail_stream.subscription_offsets WHERE subscription_id = s.id;
        UPDATE rail_stream.subscriptions u
        SET start_position = rail_stream._check_options(jsonb_build_object('start', "to")) ->> 'start'
        WHERE u.id = s.id;
    END IF;
    UPDATE rail_stream.subscriptions u SET config_version = u.config_version + 1 WHERE u.id = s.id;
END;
$$;
COMMENT ON FUNCTION rail_stream.reset_offsets(text, text) IS
    'Move a subscription to earliest, latest, a timestamp or given offsets; its workers restart there';

-- One dead letter through its feed again, with the rights of the role it
-- was written as (src/sql_api.c); it checks its caller itself.
CREATE FUNCTION rail_stream._replay_dead_letter(id bigint) RETURNS bigint
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'rs_replay_dead_letter';

-- replay_dead_letters(subscription, ids): run stored dead letters through
-- their feed again, after a fix.  A replayed dead letter is removed; one that
-- fails again is stored again, as a new dead letter.  Each runs with the
-- rights of the role it was written as, so only superusers and members of
-- that role replay it; others' dead letters, and those that hold only the
-- start of an oversize message, are left, with a notice.
CREATE FUNCTION rail_stream.replay_dead_letters(subscription text DEFAULT NULL,
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
COMMENT ON FUNCTION rail_stream.replay_dead_letters(text, bigint[]) IS
    'Run dead letters through their feed again; returns how many were replayed and failed again';

-- Status ------------------------------------------------------------------

CREATE FUNCTION rail_stream._worker_status(
    OUT subscription_id bigint, OUT worker_index integer, OUT pid integer,
    OUT state text, OUT partition integer, OUT committed_offset bigint,
    OUT high_watermark bigint, OUT last_message_at timestamptz,
    OUT last_event_at timestamptz, OUT messages_per_second double precision,
    OUT batches bigint, OUT dead_letters bigint, OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'rs_worker_status';

-- One row per subscription and partition, from the workers' shared memory
-- and the stored offsets; no broker is asked.  Monitors (_is_monitor) see
-- every subscription, other roles those they own.
CREATE VIEW rail_stream.subscription_status WITH (security_barrier) AS
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
COMMENT ON VIEW rail_stream.subscription_status IS
    'Per subscription and partition: state, offsets, lag, rates and errors of the ingest workers';
GRANT SELECT ON rail_stream.subscription_status TO PUBLIC;
