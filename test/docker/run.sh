#!/usr/bin/env bash
# test/docker/run.sh: docker/, tested as far as a machine without a container
# runtime allows (issue 10).
#
#   1. docker/compose.yaml validates (docker-compose config, which needs no
#      daemon), with every setting of docker/.env.example, and refuses to
#      start without the passwords;
#   2. docker/postgres/build.sh -- the Dockerfile's build -- builds and
#      installs rail_stream into $PG_CONFIG's installation;
#   3. docker/postgres/initdb/* run against a temporary cluster (which
#      preloads rail_stream, as the image does) the way the postgres
#      image's entrypoint runs them: in name order, *.sh executed, *.sql
#      through psql, with POSTGRES_USER, POSTGRES_DB and the settings of
#      docker/.env.example in the environment;
#   4. the read-only role it creates is read-only and sees no secret;
#   5. the sample data goes in through rail_stream.ingest_message (the
#      workers' own path), with the test's alert rule and a webhook receiver
#      on loopback;
#   6. every query of every panel of docker/grafana/dashboards/*.json, with
#      Grafana's macros expanded for a time range covering the data
#      (docker/grafana/panels.py), runs as the read-only role without error
#      and returns rows.
#
#   test/docker/run.sh [--screenshots]   (also draws docker/grafana/
#                                          screenshots/*.png from the panels'
#                                          results: docker/grafana/plot.py)
#
# Ends with "docker: N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export PG_CONFIG=${PG_CONFIG:-pg_config}
screenshots=false
[ "${1:-}" = --screenshots ] && screenshots=true

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() {	# check DESCRIPTION COMMAND...: passes when COMMAND succeeds
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		not_ok "$what"
		sed 's/^/    /' <<<"$out" | tail -20
	fi
}
finish() {
	echo "docker: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

tmp=$(mktemp -d /tmp/rail_stream_docker.XXXXXX)
chmod 755 "$tmp"
receiver_pid=
cleanup() {
	[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null
	test/pg_tmp.sh stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. the compose file ------------------------------------------------------
# docker/.env.example with the three required passwords filled in
sed -e 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=test-pg/' \
	-e 's/^GRAFANA_DB_PASSWORD=$/GRAFANA_DB_PASSWORD=test-reader/' \
	-e 's/^GRAFANA_ADMIN_PASSWORD=$/GRAFANA_ADMIN_PASSWORD=test-admin/' \
	docker/.env.example >"$tmp/env"
compose() { (cd docker && docker-compose -f compose.yaml --env-file "$1" config "${@:2}"); }
if ! command -v docker-compose >/dev/null; then
	not_ok "docker-compose is installed (Debian package docker-compose)"
else
	check "docker/feeder/Dockerfile exists (the feeder's build context)" \
		test -f docker/feeder/Dockerfile
	check "docker/compose.yaml validates with docker/.env.example" compose "$tmp/env"
	check "compose has the services kafka, postgres, grafana and feeder" \
		test "$(compose "$tmp/env" --services 2>&1 | grep -vx kafka-volume | sort | tr '\n' ' ')" = \
		"feeder grafana kafka postgres "
	# no password has a default: with .env.example as it is, compose refuses
	if out=$(compose "$repo/docker/.env.example" 2>&1); then
		not_ok "compose refuses to run without the passwords"
	else
		check "compose refuses to run without the passwords" \
			grep -q "set POSTGRES_PASSWORD in docker/.env" <<<"$out"
	fi
	# every variable compose reads is in .env.example
	check "every variable of compose.yaml is in .env.example" bash -c '
		missing=$(grep -o "\${[A-Z_]*" docker/compose.yaml | tr -d "\${" | sort -u |
			while read -r v; do grep -q "^$v=" docker/.env.example || echo "$v"; done)
		[ -z "$missing" ] || { echo "missing: $missing"; exit 1; }'
fi

# the panels query the provisioned data source, by its uid
check "every panel uses the provisioned data source" bash -c '
	uid=$(sed -n "s/^ *uid: *//p" docker/grafana/provisioning/datasources/rail_stream.yaml)
	bad=$(jq -r --arg uid "$uid" ".panels[] | select(.type != \"row\") |
		select(.datasource.uid != \$uid or ([.targets[].datasource.uid] | any(. != \$uid))) |
		.title" docker/grafana/dashboards/*.json)
	[ -n "$uid" ] && [ -z "$bad" ] || { echo "panels on another data source: $bad"; exit 1; }'

# --- 2. the image's build, on the host -----------------------------------------
check "docker/postgres/build.sh builds and installs rail_stream" docker/postgres/build.sh
[ "$failed" -eq 0 ] || [ -f "$("$PG_CONFIG" --pkglibdir)/rail_stream.so" ] || finish

# --- 3. first start: the initdb scripts, as the entrypoint runs them -----------
# the image's postgresql.conf.sample preloads rail_stream; no broker runs
# here, so the workers wait for one (their state shows in the status)
eval "$(PG_EXTRA_CONF="shared_preload_libraries = 'rail_stream'
rail_stream.brokers = '127.0.0.1:9'" test/pg_tmp.sh start "$tmp/pg")"
# the entrypoint's environment: docker/.env.example (filled in) and the
# image's location of the reference data
# (an env file is not shell: values are taken as they are, spaces too)
while IFS='=' read -r name value; do
	export "$name=$value"
done < <(grep -E '^[A-Z_][A-Z0-9_]*=' "$tmp/env")
export POSTGRES_DB=$PGDATABASE POSTGRES_USER=$PGUSER
export RAIL_STREAM_DATA_DIR=$repo/data/reference
receiver_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ALERT_WEBHOOK_URL="http://127.0.0.1:$receiver_port/bot123456:TEST-TOKEN/sendMessage"
# the samples' late train at a station: Chartham, 5 minutes late
export ALERT_RULES="$ALERT_RULES,CHARTHAM:4"
python3 test/webhook_receiver.py --port "$receiver_port" --log "$tmp/receiver.jsonl" \
	>/dev/null 2>&1 &
receiver_pid=$!
initdb_ok=true
for f in docker/postgres/initdb/*; do
	case "$f" in
		*.sh) if [ -x "$f" ]; then out=$("$f" 2>&1); else out=$(bash -c ". '$f'" 2>&1); fi ;;
		*.sql) out=$(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password \
			--no-psqlrc --dbname "$POSTGRES_DB" -f "$f" 2>&1) ;;
		*) continue ;;
	esac
	if [ $? -eq 0 ]; then
		ok "initdb: $f"
	else
		not_ok "initdb: $f"
		sed 's/^/    /' <<<"$out"
		initdb_ok=false
	fi
done
$initdb_ok || finish

q() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
check "initdb: the talk's subscriptions exist" \
	test "$(q -c "SELECT string_agg(subscription || '=' || topic, ' ' ORDER BY subscription)
		FROM rail_stream.subscription_status")" = \
	"alert_config=alert_config cif_full_daily=$CIF_TOPIC train_mvt=$TRAIN_MVT_TOPIC"
check "initdb: the alert rules exist, with the webhook" \
	test "$(q -c "SELECT string_agg(station || ':' || over_minutes, ',' ORDER BY id)
		FROM rail_stream.alert_rules WHERE webhook_url = '$ALERT_WEBHOOK_URL'")" = "$ALERT_RULES"
check "initdb: the location master is loaded" \
	test "$(q -c "SELECT count(*) FROM rail.locations")" = \
	"$(python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))) - 1)' \
		data/reference/ukrail_locations.csv)"

# --- 4. the read-only role -------------------------------------------------------
reader() { PGUSER=$GRAFANA_DB_USER PGPASSWORD=$GRAFANA_DB_PASSWORD q "$@"; }
check "reader: logs in, default_transaction_read_only is on" \
	test "$(reader -c "SHOW default_transaction_read_only")" = on
refused() {	# refused SQL...: every statement fails for the reader, even read-write
	local sql
	for sql in "$@"; do
		if reader -c "SET default_transaction_read_only = off" -c "$sql" >/dev/null 2>&1; then
			echo "the reader ran: $sql"
			return 1
		fi
	done
}
check "reader: may not write, even in a read-write transaction" refused \
	"INSERT INTO rail.tocs (toc_row, company_name) VALUES (999, 'x')" \
	"DELETE FROM rail.movements" \
	"SELECT rail_stream.create_subscription('x', 'x', 'trust')" \
	"SELECT rail_stream.add_alert_rule('X', 1)" \
	"SELECT rail_stream.ingest_message('trust', '[]')" \
	"CREATE TABLE public.x (i int)" \
	"CREATE VIEW dashboard.x AS SELECT 1"
# rail_stream's own tables keep secrets: the reader gets no row of them
check "reader: sees no secret (subscriptions, alert rules, raw dead letters)" \
	test "$(reader -c "SELECT (SELECT count(*) FROM rail_stream.subscriptions)
		+ (SELECT count(*) FROM rail_stream.alert_rules)
		+ (SELECT count(*) FROM rail_stream.alerts)
		+ (SELECT count(*) FROM rail_stream.dead_letters)")" = 0

# --- 5. the sample data, through the workers' ingest path ------------------------
load() {
	local f line
	# reference data: the CIF extracts, one message per line, as kcat -l sends them
	for f in data/cif/*.ndjson data/cif/*.json; do
		grep -v '^[[:space:]]*$' "$f"
	done >"$tmp/cif.lines"
	# TRUST frames: the samples, the demo's activation, the flat sample as frames
	{
		for f in data/trust/*.json; do tr -d '\n' <"$f"; echo; done
		cat demo/activation_example.json
		test/docker/csv_frames.py data/trust/movements_flat_2023-05-27_part1.csv
	} | grep -v '^[[:space:]]*$' >"$tmp/trust.lines"
	q -q <<SQL
CREATE TEMP TABLE cif (n serial, line text);
CREATE TEMP TABLE trust (n serial, line text);
\copy cif (line) FROM '$tmp/cif.lines' WITH (FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02')
\copy trust (line) FROM '$tmp/trust.lines' WITH (FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02')
SELECT count(rail_stream.ingest_message('cif', line)) FROM (SELECT line FROM cif ORDER BY n) c;
SELECT count(rail_stream.ingest_message('trust', line)) FROM (SELECT line FROM trust ORDER BY n) t;
-- and a bad message, which becomes a dead letter
SELECT rail_stream.ingest_message('trust', '[{"header":{"msg_type":"0003"},"body":{"train_id":"BAD"}}]', 'test-bad');
SQL
}
check "data: the sample frames ingest" load
check "data: movements, a cancellation, the bad message's dead letter and an alert are there" \
	test "$(q -c "SELECT (SELECT count(*) FROM rail.movements) > 300
		AND (SELECT count(*) FROM rail.cancellations) > 0
		AND (SELECT array_agg(key) FROM rail_stream.dead_letters) = '{test-bad}'
		AND (SELECT count(*) FROM rail_stream.alerts) > 0")" = t
# the sender posts the alert to the receiver (bounded wait)
for _ in $(seq 100); do
	[ "$(q -c "SELECT count(*) FROM rail_stream.alerts WHERE state IN ('pending', 'sending')")" = 0 ] && break
	sleep 0.1
done
check "data: the alert was delivered to the webhook" \
	test "$(q -c "SELECT count(*) FROM rail_stream.alerts WHERE state = 'delivered'")" -gt 0

# --- 6. every panel's query, as Grafana would send it, as the reader -------------
# the dashboards' time range: the data's, to the minute
read -r t_from t_to < <(q -F ' ' -c "SELECT
	to_char(date_trunc('minute', min(t)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
	to_char(date_trunc('minute', max(t)) AT TIME ZONE 'UTC' + interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
	FROM (SELECT actual_timestamp FROM rail.movements UNION ALL
	      SELECT canx_timestamp FROM rail.cancellations) AS x(t)")
echo "# dashboards' time range: $t_from to $t_to"
if ! docker/grafana/panels.py list --from "$t_from" --to "$t_to" >"$tmp/panels.jsonl" 2>"$tmp/panels.err"; then
	not_ok "panels: every macro of every panel expands"
	sed 's/^/    /' "$tmp/panels.err"
	finish
fi
ok "panels: every macro of every panel expands ($(wc -l <"$tmp/panels.jsonl") queries)"
n=0
while IFS= read -r panel; do
	n=$((n + 1))
	title=$(jq -r '"\(.dashboard): \(.title) [\(.refId)]"' <<<"$panel")
	jq -r .sql <<<"$panel" >"$tmp/panel.sql"
	if ! out=$(PGUSER=$GRAFANA_DB_USER PGPASSWORD=$GRAFANA_DB_PASSWORD \
		psql -X -v ON_ERROR_STOP=1 --csv -f "$tmp/panel.sql" 2>&1); then
		not_ok "panel $title runs as $GRAFANA_DB_USER"
		sed 's/^/    /' <<<"$out"
		continue
	fi
	rows=$(($(wc -l <<<"$out") - 1))
	if [ "$rows" -gt 0 ]; then
		ok "panel $title: $rows rows"
	else
		not_ok "panel $title returns rows"
	fi
done <"$tmp/panels.jsonl"
[ "$n" -gt 0 ] || not_ok "the dashboards have panels"

if $screenshots; then
	# matplotlib: Debian's python3-matplotlib, for Debian's python3
	py=python3
	python3 -c 'import matplotlib' 2>/dev/null || py=/usr/bin/python3
	check "screenshots: docker/grafana/plot.py draws every panel" \
		env PGUSER="$GRAFANA_DB_USER" PGPASSWORD="$GRAFANA_DB_PASSWORD" \
		"$py" docker/grafana/plot.py --from "$t_from" --to "$t_to" --out docker/grafana/screenshots
fi
finish
