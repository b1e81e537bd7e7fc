
-- Delay alerts: rules, an outbox, NOTIFY at commit ------------------------
--
-- A movement that is LATE by more than a rule's threshold at the rule's
-- station (by location name, TIPLOC, STANOX or CRS), for a train that does
-- not start there, writes one row to rail_stream.alerts -- one per rule and
-- movement, however often the movement is re-sent or corrected -- and sends
-- its JSON with NOTIFY on the rule's channel.  Both happen in the
-- movement's transaction, so a rollback alerts nobody.  Rows of a rule with
-- a webhook URL or a Kafka topic wait in the outbox (state 'pending') for
-- the alert sender worker (src/alert_sender.c), which POSTs or produces
-- them and records each attempt's outcome.
--
-- A rule has one destination besides its channel: a webhook, or a Kafka
-- topic (on the brokers of rail_stream.brokers, or its own), with
-- librdkafka properties for TLS and SASL that pass the subscriptions'
-- allowlist, for a producer, on every write (_check_alert_rule) and again
-- in C before the sender's producer uses them.

-- Whether a text is JSON (PostgreSQL 15 has no pg_input_is_valid)
CREATE FUNCTION rail_stream._is_json(t text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM t::jsonb;
    RETURN true;
EXCEPTION
    WHEN invalid_text_representation THEN
        RETURN false;
END;
$$;

CREATE TABLE rail_stream.alert_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station         text NOT NULL,
    over_minutes    integer NOT NULL CHECK (over_minutes >= 0),
    -- http or https, a host, no user:password@ (tokens belong in the path)
    webhook_url     text CHECK (webhook_url ~* '^https?://[^/?#@]+([/?#]|$)'),
    template        text CHECK (rail_stream._is_json(template)),
    channel         text NOT NULL DEFAULT 'rail_stream_alerts'
                    CHECK (channel ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    enabled         boolean NOT NULL DEFAULT true,
    owner           regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    config_station  text UNIQUE,    -- set for rules kept by rail_stream.alert_config
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- a Kafka topic instead of a webhook: its brokers (NULL: those of
    -- rail_stream.brokers) and librdkafka properties (may hold credentials)
    kafka_topic     text CHECK (kafka_topic ~ '^[A-Za-z0-9._-]{1,249}$'
                                AND kafka_topic NOT IN ('.', '..')),
    kafka_brokers   text,
    kafka_properties jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT one_destination CHECK (webhook_url IS NULL OR kafka_topic IS NULL),
    CONSTRAINT kafka_settings_need_topic
        CHECK (kafka_topic IS NOT NULL OR (kafka_brokers IS NULL AND kafka_properties = '{}'))
);
COMMENT ON TABLE rail_stream.alert_rules IS
    'Delay alert rules: a station, a threshold in minutes, a NOTIFY channel and an optional webhook or Kafka topic';
CREATE INDEX ON rail_stream.alert_rules (upper(station)) WHERE enabled;
-- webhook URLs hold bot tokens: administrators only
ALTER TABLE rail_stream.alert_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alert_rules
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alert_rules FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.alert_rules TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alert_rules', '');

-- Every write to a rule, through the API or not: its Kafka properties
-- reach the alert sender's producer, so they pass the subscriptions'
-- allowlist for a producer (no property that reads a file, runs a command
-- or loads a library; none of the settings the sender makes itself).
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

CREATE TABLE rail_stream.alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES rail_stream.alert_rules ON DELETE CASCADE,
    msg_key         text NOT NULL,
    channel         text NOT NULL,
    message         text NOT NULL,
    payload         jsonb NOT NULL,
    body            text,           -- the webhook request's or Kafka record's JSON, as sent
    idempotency_key uuid NOT NULL DEFAULT gen_random_uuid(),
    state           text NOT NULL CHECK (state IN ('pending', 'sending', 'delivered',
                                                   'failed', 'notify only')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,        -- HTTP status of the last attempt
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (rule_id, msg_key)
);
COMMENT ON TABLE rail_stream.alerts IS
    'The alert outbox: one row per rule and late movement, with its delivery state';
-- the sender's claim reads due alerts in this order, without a sort
CREATE INDEX ON rail_stream.alerts (next_attempt_at, id) WHERE state = 'pending';
-- administrators watch the outbox, and may re-queue alerts (the UPDATE
-- granted below is safe only because of this policy); the trigger and the
-- sender write it
ALTER TABLE rail_stream.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alerts USING (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alerts FROM PUBLIC;
GRANT SELECT, UPDATE (state, attempts, next_attempt_at) ON rail_stream.alerts TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alerts', '');

-- Queued alerts wake the sender when their transaction commits.
CREATE FUNCTION rail_stream._wake_sender() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'rs_wake_sender';
REVOKE EXECUTE ON FUNCTION rail_stream._wake_sender() FROM PUBLIC;
CREATE TRIGGER wake_sender AFTER INSERT OR UPDATE OF state ON rail_stream.alerts
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._wake_sender();

-- A webhook URL's endpoint: scheme, host and port only, as the rest (a bot
-- token) is a secret.  The sender's circuit breaker (src/breaker.c) cuts
-- URLs the same way.
CREATE FUNCTION rail_stream.webhook_endpoint(url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN substring(url FROM '^[A-Za-z]+://[^/?#]+');
COMMENT ON FUNCTION rail_stream.webhook_endpoint(text) IS
    'The scheme, host and port of a webhook URL, without its path (where tokens are)';

-- The destination of a rule's alerts: its webhook's endpoint, or
-- kafka://<brokers>/<topic> (never the properties, which may hold a
-- password), as the sender's circuit breaker keys it (src/breaker.c).
CREATE FUNCTION rail_stream.alert_endpoint(webhook_url text, kafka_topic text,
    kafka_brokers text DEFAULT NULL)
RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_alert_endpoint';
COMMENT ON FUNCTION rail_stream.alert_endpoint(text, text, text) IS
    'The destination of a rule''s alerts: the scheme, host and port of its webhook, or kafka://brokers/topic';

-- Delivery health per endpoint, webhook or Kafka topic.
CREATE VIEW rail_stream.webhook_health WITH (security_barrier) AS
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
GRANT SELECT ON rail_stream.webhook_health TO PUBLIC;

-- Failed alerts (of one rule, or all) are sent again from the first attempt.
CREATE FUNCTION rail_stream.retry_failed_alerts(rule_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    UPDATE rail_stream.alerts a
    SET state = 'pending', attempts = 0, next_attempt_at = now()
    WHERE a.state = 'failed'
      AND (retry_failed_alerts.rule_id IS NULL OR a.rule_id = retry_failed_alerts.rule_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION rail_stream.retry_failed_alerts(bigint) IS
    'Send failed alerts again, with the same idempotency keys';

-- A rule: by default it NOTIFYs only; with webhook_url it POSTs each alert,
-- with kafka_topic it produces each alert to that topic (brokers: those of
-- rail_stream.brokers unless given; kafka_properties: librdkafka's TLS and
-- SASL settings, as a subscription's "kafka" option).
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

CREATE FUNCTION rail_stream.drop_alert_rule(id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.alert_rules r WHERE r.id = drop_alert_rule.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert rule % does not exist', id USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_alert_rule(bigint) IS 'Remove an alert rule and its alerts';

-- The talk's alert_config topic ("BEN RHYDDING:{"STATION":"BEN RHYDDING",
-- "ALERT_OVER_MINS":"5"}" with kcat -K:) as a keyed table: subscribe it with
-- feed 'reference:rail_stream.alert_config', and each row keeps one rule;
-- a tombstone removes it.
CREATE TABLE rail_stream.alert_config (
    station         text PRIMARY KEY,
    alert_over_mins integer NOT NULL,
    webhook_url     text,
    template        text,
    channel         text NOT NULL DEFAULT 'rail_stream_alerts'
);
COMMENT ON TABLE rail_stream.alert_config IS
    'Alert rules by station, as the talk''s alert_config topic carries them';
ALTER TABLE rail_stream.alert_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alert_config
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alert_config FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.alert_config TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alert_config', '');

CREATE FUNCTION rail_stream._sync_alert_config() RETURNS trigger
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
CREATE TRIGGER sync_rules AFTER INSERT OR UPDATE OR DELETE ON rail_stream.alert_config
    FOR EACH ROW EXECUTE FUNCTION rail_stream._sync_alert_config();

-- The talk's message: "Train from <origin> arrived at <station> <N MINS
-- LATE> (alert threshold: M mins). Train id <uid> is operated by <TOC>"
CREATE FUNCTION rail_stream.alert_text(m rail.movements, over_minutes integer) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT format('Train from %s arrived at %s %s (alert threshold: %s mins). Train id %s is operated by %s',
                  coalesce(m.origin_name, 'an unknown origin'), coalesce(m.loc_name, m.loc_stanox),
                  m.variation, over_minutes, coalesce(m.train_uid, m.train_id), m.toc_name);
END;

-- A template with each {{field}} replaced by the payload's field, escaped
-- for a JSON string, in one pass (values are never expanded again) and
-- within 64 kB (src/alert_body.c).
CREATE FUNCTION rail_stream._render_template(template text, payload jsonb) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_render_template';

-- The webhook request of an alert: the rule's template (JSON, with
-- {{text}}, {{station}}, {{minutes_late}} ... for the payload's fields,
-- each placed inside a JSON string), or Telegram's sendMessage with the
-- chat of rail_stream.telegram_chat_id, as plain text: location names hold
-- the characters that Telegram's Markdown would take for markup.
CREATE FUNCTION rail_stream.alert_body(template text, payload jsonb) RETURNS text
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

-- AFTER statement triggers on rail.movements: the matching rules' alerts
-- for the LATE movements a statement inserted or updated, in one INSERT
-- (a batch of a worker costs one statement, not one call per late
-- movement).  Runs as the extension's owner, since the rules and the outbox
-- are private.  An alert is unique per rule and movement: a re-sent or
-- corrected movement does not alert twice.
CREATE FUNCTION rail_stream._raise_alerts() RETURNS trigger
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

REVOKE EXECUTE ON FUNCTION rail_stream._raise_alerts() FROM PUBLIC;
CREATE TRIGGER raise_alerts_insert AFTER INSERT ON rail.movements
    REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._raise_alerts();
CREATE TRIGGER raise_alerts_update AFTER UPDATE ON rail.movements
    REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._raise_alerts();
