#!/usr/bin/env bash
# First start of the rail_stream image: the read-only role that Grafana
# connects as, and the schema "dashboard" of what it may read beyond the
# rail data model.
#
# rail_stream lets every role read the rail.* tables and views (the
# extension grants SELECT on them to PUBLIC).  Its operations data is for
# administrators (rail_stream_admin, superusers) and pg_monitor: dead
# letters keep raw messages, alert rules and the outbox keep webhook URLs
# with bot tokens, subscriptions their Kafka credentials.  Granting
# pg_monitor to a dashboard would also show it every session's SQL text and
# every setting; making it an administrator would let it change
# subscriptions.  So the views below, owned by the superuser that runs this
# script, give Grafana the operational columns only -- no raw message, no
# URL path, no Kafka property -- through SECURITY DEFINER functions with a
# fixed search_path and no arguments.
#
# The role: LOGIN, password from GRAFANA_DB_PASSWORD (required, never in the
# image), default_transaction_read_only on, a statement timeout, CONNECT on
# the database, SELECT on schema dashboard and nothing else granted.
set -euo pipefail

: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD (docker/.env) for the read-only role of the dashboards}"

psql=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password
      --no-psqlrc --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" -q)

"${psql[@]}" -v role="${GRAFANA_DB_USER:-grafana_reader}" \
	-v password="$GRAFANA_DB_PASSWORD" <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA dashboard;
COMMENT ON SCHEMA dashboard IS
    'What the Grafana dashboards read of rail_stream''s operations data, without secrets';

-- Per subscription and partition: state, offsets, lag, rate, dead letters.
CREATE FUNCTION dashboard._subscription_status()
RETURNS TABLE (subscription text, topic text, "partition" integer, state text,
               committed_offset bigint, high_watermark bigint, lag bigint,
               lag_seconds numeric, messages_per_second double precision,
               batches bigint, dead_letters bigint, last_message_at timestamptz,
               last_error text, last_error_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT s.subscription, s.topic, s.partition, s.state, s.committed_offset,
           s.high_watermark, s.lag, s.lag_seconds, s.messages_per_second,
           s.batches, s.dead_letters, s.last_message_at, s.last_error, s.last_error_at
    FROM rail_stream.subscription_status s;
END;
CREATE VIEW dashboard.subscription_status AS SELECT * FROM dashboard._subscription_status();

-- Dead letters: when, where and why -- not the message, its key or headers.
CREATE FUNCTION dashboard._dead_letters()
RETURNS TABLE (id bigint, failed_at timestamptz, feed text, subscription text,
               topic text, "partition" integer, "offset" bigint, sqlstate text,
               error_message text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT d.id, d.failed_at, d.feed, d.subscription, d.topic, d.partition, d."offset",
           d.sqlstate, d.error_message
    FROM rail_stream.dead_letters d;
END;
CREATE VIEW dashboard.dead_letters AS SELECT * FROM dashboard._dead_letters();

-- Alert rules: the station and threshold; of the webhook only its endpoint.
CREATE FUNCTION dashboard._alert_rules()
RETURNS TABLE (id bigint, station text, over_minutes integer, enabled boolean,
               webhook_endpoint text, channel text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT r.id, r.station, r.over_minutes, r.enabled,
           rail_stream.webhook_endpoint(r.webhook_url), r.channel
    FROM rail_stream.alert_rules r;
END;
CREATE VIEW dashboard.alert_rules AS SELECT * FROM dashboard._alert_rules();

-- The alert outbox: states and times; not the request body.
CREATE FUNCTION dashboard._alerts()
RETURNS TABLE (id bigint, rule_id bigint, station text, msg_key text, state text,
               attempts integer, last_status integer, created_at timestamptz,
               delivered_at timestamptz, minutes_late integer, message text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT a.id, a.rule_id, r.station, a.msg_key, a.state, a.attempts, a.last_status,
           a.created_at, a.delivered_at, (a.payload ->> 'minutes_late')::integer, a.message
    FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id;
END;
CREATE VIEW dashboard.alerts AS SELECT * FROM dashboard._alerts();

-- Webhook delivery per endpoint (the view already hides URL paths).
CREATE FUNCTION dashboard._webhook_health()
RETURNS TABLE (endpoint text, pending bigint, sending bigint, delivered bigint,
               failed bigint, attempts bigint, last_delivered_at timestamptz,
               last_attempt_at timestamptz, oldest_waiting_since timestamptz,
               median_delivery_seconds double precision, last_status integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT w.endpoint, w.pending, w.sending, w.delivered, w.failed, w.attempts,
           w.last_delivered_at, w.last_attempt_at, w.oldest_waiting_since,
           w.median_delivery_seconds, w.last_status
    FROM rail_stream.webhook_health w;
END;
CREATE VIEW dashboard.webhook_health AS SELECT * FROM dashboard._webhook_health();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA dashboard FROM PUBLIC;
SELECT cmd FROM (VALUES
    (1, format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')),
    (2, format('ALTER ROLE %I SET default_transaction_read_only = on', :'role')),
    (3, format('ALTER ROLE %I SET statement_timeout = %L', :'role', '30s')),
    (4, format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'role')),
    (5, format('GRANT USAGE ON SCHEMA dashboard TO %I', :'role')),
    (6, format('GRANT SELECT ON ALL TABLES IN SCHEMA dashboard TO %I', :'role')),
    (7, format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dashboard TO %I', :'role'))
) AS c(n, cmd) ORDER BY n
\gexec
SQL
echo "rail_stream: schema dashboard and read-only role ${GRAFANA_DB_USER:-grafana_reader} created"
