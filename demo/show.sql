-- What the demo prints.
\pset pager off
SET TimeZone = 'Europe/London';
SET DateStyle = 'ISO, YMD';

\echo '== Enriched movements (latest 12)'
SELECT train_id, to_char(actual_timestamp, 'YYYY-MM-DD HH24:MI') AS actual,
       loc_name AS location, loc_crs AS crs, variation, platform_text AS platform,
       toc_name AS toc, schedule_key
FROM rail.movements ORDER BY actual_timestamp DESC, train_id LIMIT 12;

\echo '== A movement joined to its activation and schedule'
SELECT train_id, loc_name, variation, platform_text AS platform, schedule_key,
       power_type, train_category, origin_name, origin_public_departure AS departs,
       destination_name, destination_public_arrival AS arrives
FROM rail.movements WHERE schedule_key <> 'no_schedule_activation_found';

\echo '== Daily punctuality (the talk''s four TOCs)'
SELECT * FROM rail.daily_punctuality ORDER BY day, variation_status;

\echo '== Daily punctuality, every TOC'
SELECT day, variation_status, toc_name, movements
FROM rail.daily_punctuality_by_toc ORDER BY day, variation_status, toc_name;

\echo '== Alert rules (from the alert_config topic)'
SELECT id, station, over_minutes, channel, enabled FROM rail_stream.alert_rules ORDER BY id;

\echo '== Alerts: one per rule and late movement, NOTIFYed at commit and POSTed'
SELECT a.id, r.station, a.msg_key, a.state, a.attempts, a.last_status,
       to_char(a.delivered_at, 'HH24:MI:SS.MS') AS delivered, a.message
FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id ORDER BY a.id;

\echo '== Webhook delivery health (the endpoint, never its token)'
SELECT endpoint, pending, sending, delivered, failed, attempts,
       round(median_delivery_seconds::numeric, 3) AS median_seconds, last_status
FROM rail_stream.webhook_health;

\echo '== Dead letters'
SELECT id, subscription, partition, "offset", key, sqlstate, error_message, message_index
FROM rail_stream.dead_letters ORDER BY id;

\echo '== Subscription status'
SELECT subscription, topic, partition, state, committed_offset, high_watermark, lag,
       round(lag_seconds::numeric, 1) AS lag_seconds, batches, dead_letters, pid
FROM rail_stream.subscription_status ORDER BY subscription, partition;

\echo
\echo '== Where the Grafana dashboards'' data comes from (docker/README.md)'
\echo 'Panels of docker/grafana/dashboards/rail_stream.json, run as the read-only role'
\echo 'grafana_reader, with Grafana''s macros expanded by docker/grafana/panels.py for'
\echo :dashboard_from to :dashboard_to
\c - grafana_reader
\i .demo/dashboard_panels.sql
\c - postgres
