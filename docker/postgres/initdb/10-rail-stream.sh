#!/usr/bin/env bash
# First start of the rail_stream image: the extension, the location master,
# the talk's subscriptions and its alert rules, all through rail_stream's
# API (create_subscription, add_alert_rule), never by writing its tables.
#
# The postgres image's entrypoint runs this once, on an empty data
# directory, against its temporary server (which already preloads
# rail_stream: the image's postgresql.conf.sample says so).  test/docker/
# run.sh runs it the same way against a temporary cluster.
#
# Settings (docker/.env.example): TRAIN_MVT_TOPIC, CIF_TOPIC, ALERT_RULES
# ("STATION:MINUTES,..."), ALERT_WEBHOOK_URL (optional; a token in its path
# is stored in rail_stream.alert_rules, which only administrators read),
# RAIL_STREAM_DATA_DIR (where ukrail_locations.csv is).
set -euo pipefail

psql=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password
      --no-psqlrc --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" -q)

locations=${RAIL_STREAM_DATA_DIR:-/usr/share/rail_stream}/ukrail_locations.csv
"${psql[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS rail_stream"
# the location master is a CSV file: \copy into its load view
"${psql[@]}" -c "\\copy rail.locations_csv FROM '${locations//\'/\'\'}' WITH (FORMAT csv, HEADER)"

"${psql[@]}" \
	-v train_mvt_topic="${TRAIN_MVT_TOPIC:-networkrail_TRAIN_MVT}" \
	-v cif_topic="${CIF_TOPIC:-CIF_FULL_DAILY}" \
	-v alert_rules="${ALERT_RULES-BEN RHYDDING:5,LEEDS:45,KINGS CROSS:30}" \
	-v webhook_url="${ALERT_WEBHOOK_URL:-}" -o /dev/null <<'SQL'
-- the talk's topics (the feeder's defaults: docker/feeder); the extension
-- ships the cancellation reasons, so no topic is needed for them
SELECT rail_stream.create_subscription('train_mvt', :'train_mvt_topic', 'trust');
SELECT rail_stream.create_subscription('cif_full_daily', :'cif_topic', 'cif');
-- rules may also come through the talk's alert_config topic (kcat -K:)
SELECT rail_stream.create_subscription('alert_config', 'alert_config',
                                       'reference:rail_stream.alert_config');

-- the talk's alert rules, "STATION:MINUTES" separated by commas
SELECT rail_stream.add_alert_rule(trim(split_part(r, ':', 1)),
                                  trim(split_part(r, ':', 2))::integer,
                                  nullif(:'webhook_url', ''))
FROM unnest(string_to_array(:'alert_rules', ',')) AS r
WHERE trim(r) <> '';
SQL
echo "rail_stream: extension, locations, subscriptions and alert rules created"
