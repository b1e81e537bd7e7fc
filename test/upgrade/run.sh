#!/usr/bin/env bash
# The upgrade test: an installed 1.0 with data in it (movements, counts, a
# subscription with stored offsets, an alert rule and its alert, a dead
# letter) is updated with ALTER EXTENSION rail_stream UPDATE; then
#   - every object of the extension equals a fresh install's, definitions
#     and privileges alike (test/upgrade/catalog.sql, compared with diff);
#   - the data is all there, and the subscription is the same.
# Runs against the server of PGHOST/PGPORT (test/run.sh starts one).
set -euo pipefail
cd "$(dirname "$0")/../.."

passed=0
failed=0
check() {
	local what=$1 got=$2 want=$3
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1))
		echo "ok - $what"
	else
		failed=$((failed + 1))
		echo "not ok - $what: got '$got', expected '$want'"
	fi
}
q() { psql -X -v ON_ERROR_STOP=1 -qAt -d "$@"; }

for db in rs_upgraded rs_fresh; do
	psql -X -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" postgres
done

q rs_upgraded -c "CREATE EXTENSION rail_stream VERSION '1.0'"
# the library is the current one: it refuses to work on 1.0's tables
check "the library refuses 1.0's tables" \
	"$(q rs_upgraded -c "SELECT rail_stream.ingest_message('trust', '[]')" 2>&1 | sed -n 's/^ERROR: *//p')" \
	"extension \"rail_stream\" is version 1.0, but its library is version $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" rail_stream.control)"
q rs_upgraded >/dev/null <<'SQL'
SELECT rail_stream.add_alert_rule('17132', 5);
-- movements as 1.0 wrote them (its triggers count and alert them)
INSERT INTO rail.movements (msg_type, train_id, planned_event_type, event_type,
    loc_stanox, actual_timestamp, variation_status, timetable_variation, toc_id)
SELECT '0003', 'UP' || i, 'ARRIVAL', 'ARRIVAL', '17132',
       '2024-07-28 10:20:00+01', 'LATE', i, '20'
FROM generate_series(1, 20) i;
INSERT INTO rail_stream.dead_letters (feed, key, value, error_message, sqlstate)
VALUES ('trust', 'bad', 'not json', 'invalid JSON in message', '22P02');
SELECT rail_stream.create_subscription('trains', 'TRAIN_MVT', 'trust', '127.0.0.1:9', '{"batch_size": 500}');
SELECT rail_stream.reset_offsets('trains', '{"0": 1200, "1": 7}');
SQL
state="SELECT (SELECT count(*) FROM rail.movements) || '/' ||
              (SELECT sum(movements) FROM rail.daily_movement_counts) || '/' ||
              (SELECT count(*) FROM rail_stream.alerts) || '/' ||
              (SELECT count(*) FROM rail_stream.dead_letters) || '/' ||
              (SELECT string_agg(name || ':' || topic || ':' || batch_size || ':' || owner, ',')
               FROM rail_stream.subscriptions) || '/' ||
              (SELECT string_agg(partition || '=' || next_offset, ',' ORDER BY partition)
               FROM rail_stream.subscription_offsets)"
before=$(q rs_upgraded -c "$state")
check "1.0 holds the workload" "$before" "20/20/15/1/trains:TRAIN_MVT:500:postgres/0=1200,1=7"

q rs_upgraded -c "ALTER EXTENSION rail_stream UPDATE"
check "updated to the default version" \
	"$(q rs_upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'rail_stream'")" \
	"$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" rail_stream.control)"
check "data and subscription survive the update" "$(q rs_upgraded -c "$state")" "$before"
check "1.0's dead letters have their length" \
	"$(q rs_upgraded -c "SELECT value_length FROM rail_stream.dead_letters")" "8"
# the updated extension works: a new movement is counted and alerted once
q rs_upgraded -c "SELECT rail_stream.ingest_message('trust', '[{\"header\":{\"msg_type\":\"0003\",\"msg_queue_timestamp\":\"1722158477000\"},\"body\":{\"train_id\":\"UP99\",\"planned_event_type\":\"ARRIVAL\",\"event_type\":\"ARRIVAL\",\"loc_stanox\":\"17132\",\"actual_timestamp\":\"1722162000000\",\"variation_status\":\"LATE\",\"timetable_variation\":\"9\",\"toc_id\":\"20\"}}]')" >/dev/null
check "ingest after the update" "$(q rs_upgraded -c "$state" | cut -d/ -f1-3)" "21/21/16"

q rs_fresh -c "CREATE EXTENSION rail_stream"
q rs_upgraded -f test/upgrade/catalog.sql >"${TMPDIR:-/tmp}/rs_catalog_upgraded.txt"
q rs_fresh -f test/upgrade/catalog.sql >"${TMPDIR:-/tmp}/rs_catalog_fresh.txt"
if diff -u "${TMPDIR:-/tmp}/rs_catalog_fresh.txt" "${TMPDIR:-/tmp}/rs_catalog_upgraded.txt"; then
	check "an updated 1.0 equals a fresh install ($(wc -l <"${TMPDIR:-/tmp}/rs_catalog_fresh.txt") catalog lines)" same same
else
	check "an updated 1.0 equals a fresh install" differs same
fi

for db in rs_upgraded rs_fresh; do
	psql -X -qc "DROP DATABASE $db" postgres
done
echo "upgrade: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
