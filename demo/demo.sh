#!/usr/bin/env bash
# make demo: the talk's pipeline on this machine.
#
# Starts a local Apache Kafka (KRaft, from Maven Central jars) and a local
# PostgreSQL with rail_stream preloaded, both under .demo/; creates the
# subscriptions; replays the real sample data with kcat as the talk does;
# sends the talk's alert rules through the alert_config topic, with a
# webhook to a local receiver (test/webhook_receiver.py); waits until every
# subscription has caught up; prints the enriched movements, the daily
# punctuality table, the alerts and their delivery, the dead letters and
# the status; then runs some of the Grafana dashboards' queries
# (docker/grafana/dashboards, macros expanded by docker/grafana/panels.py
# for the time range of the data) as the dashboards' read-only role, which
# docker/postgres/initdb/20-dashboard-role.sh creates as in the image.
# Both servers keep running afterwards: the last lines say how to use and
# stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export RAIL_STREAM_CACHE=${RAIL_STREAM_CACHE:-$repo/.cache}

make -s
make -s install >/dev/null

mkdir -p .demo
chmod 755 .demo
test/pg_tmp.sh stop "$repo/.demo/pg"
test/kafka/kafka.sh stop "$repo/.demo/kafka" >/dev/null 2>&1 || true
[ -f .demo/receiver.pid ] && kill "$(cat .demo/receiver.pid)" 2>/dev/null || true
rm -rf .demo/pg .demo/kafka .demo/receiver*

echo "== starting Kafka and PostgreSQL"
test/kafka/kafka.sh fetch >/dev/null
brokers=$(test/kafka/kafka.sh start "$repo/.demo/kafka")
eval "$(PG_EXTRA_CONF="shared_preload_libraries = 'rail_stream'
rail_stream.brokers = '$brokers'
rail_stream.batch_ms = 50
rail_stream.telegram_chat_id = '-364377679'" test/pg_tmp.sh start "$repo/.demo/pg" 5499)"
psql -X -q -f demo/setup.sql >/dev/null

# A webhook receiver on loopback stands in for Telegram's sendMessage.
receiver_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
webhook="http://127.0.0.1:$receiver_port/bot123456:DEMO-TOKEN/sendMessage"
nohup python3 test/webhook_receiver.py --port "$receiver_port" --log .demo/receiver.jsonl \
	>/dev/null 2>&1 &
echo $! >.demo/receiver.pid

echo "== the talk's alert rules, through the alert_config topic (kcat -K:)"
# The samples have no late train at the talk's three stations; Chartham has
# one 5 minutes late, so a fourth rule shows a delivered alert.
for rule in 'BEN RHYDDING:5' 'LEEDS:45' 'KINGS CROSS:30' 'CHARTHAM:4'; do
	printf '%s:{"STATION":"%s","ALERT_OVER_MINS":"%s","WEBHOOK_URL":"%s"}\n' \
		"${rule%%:*}" "${rule%%:*}" "${rule##*:}" "$webhook"
done | tee /dev/stderr | kcat -P -b "$brokers" -t alert_config -K:

echo "== producing the sample data with kcat, as the talk does"
kcat -P -b "$brokers" -t canx_reason_code -K: -l data/reference/canx_reason_code.dat
for f in data/cif/*.ndjson data/cif/*.json; do
	kcat -P -b "$brokers" -t CIF_FULL_DAILY -l "$f"
done
wait_caught_up() {
	for _ in $(seq 600); do
		if [ "$(psql -X -At -c "SELECT count(*) = 0 FROM rail_stream.subscription_status
			WHERE $1 AND (state <> 'running' OR lag IS DISTINCT FROM 0)")" = t ]; then
			return 0
		fi
		sleep 0.2
	done
	echo "subscriptions did not catch up" >&2
	return 1
}
# reference data first, so that the movements find their locations and schedules
wait_caught_up "subscription <> 'train_mvt'"
for f in data/trust/*.json; do
	tr -d '\n' <"$f" | kcat -P -b "$brokers" -t networkrail_TRAIN_MVT
done
# The samples hold no activation of a schedule in the CIF extract: this
# frame is the wiki's example activation re-pointed at schedule W65870, with
# one movement of that train, to show the whole join.
kcat -P -b "$brokers" -t networkrail_TRAIN_MVT -l demo/activation_example.json
# and one bad message, which is kept, not lost
echo '[{"header":{"msg_type":"0003"},"body":{"train_id":"BAD"}}]' |
	kcat -P -b "$brokers" -t networkrail_TRAIN_MVT -k demo-bad
wait_caught_up "true"
for _ in $(seq 100); do
	[ "$(psql -X -At -c "SELECT count(*) FROM rail_stream.alerts WHERE state IN ('pending', 'sending')")" = 0 ] && break
	sleep 0.1
done

# the dashboards' read-only role and its views, as the image's first start
# makes them; demo/show.sql runs the panels' queries as that role
POSTGRES_USER=postgres POSTGRES_DB=postgres GRAFANA_DB_USER=grafana_reader \
	GRAFANA_DB_PASSWORD=demo docker/postgres/initdb/20-dashboard-role.sh >/dev/null
read -r t_from t_to < <(psql -X -At -F ' ' -c "SELECT
	to_char(date_trunc('minute', min(t)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
	to_char(date_trunc('minute', max(t)) AT TIME ZONE 'UTC' + interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
	FROM (SELECT actual_timestamp FROM rail.movements UNION ALL
	      SELECT canx_timestamp FROM rail.cancellations) AS x(t)")
docker/grafana/panels.py psql --from "$t_from" --to "$t_to" \
	--only "Punctuality per TOC per day" --only "Movements per minute" \
	--only "Late trains at the alert stations" --only "Subscription lag" \
	--only "Webhook health" >.demo/dashboard_panels.sql
psql -X -v dashboard_from="$t_from" -v dashboard_to="$t_to" -f demo/show.sql
echo "== What the webhook receiver got"
jq -c '{path, "idempotency-key": .headers["idempotency-key"], status, body: (.body | fromjson)}' \
	.demo/receiver.jsonl

cat <<MSG

The demo's servers keep running:
  psql -h $PGHOST -p $PGPORT -U postgres      (PostgreSQL)
  kcat -L -b $brokers                          (Kafka)
  $webhook  (webhook receiver; its log: .demo/receiver.jsonl)
Stop them with:
  test/pg_tmp.sh stop $repo/.demo/pg
  test/kafka/kafka.sh stop $repo/.demo/kafka
  kill \$(cat .demo/receiver.pid)
MSG
