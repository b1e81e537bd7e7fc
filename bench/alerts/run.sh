#!/usr/bin/env bash
# rail_stream alert benchmark: latency from kcat produce to a webhook
# receiver while the ingest worker is busy, and the sender's throughput
# against curl --parallel on the same receiver (bench/alerts/bench.py).
#
#   bench/alerts/run.sh
#
# Builds and installs the working tree, starts its own Kafka broker
# (test/kafka/kafka.sh), PostgreSQL 15 with rail_stream preloaded
# (test/pg_tmp.sh) and bench/alerts/fast_receiver.py on loopback, runs the
# measurements and writes bench/alerts/out/<run>/ (results.json,
# summary.txt, server.log).  Environment: ALERTS_RATE (1000 msgs/s),
# ALERTS_SECONDS (60), ALERTS_N (20000 alerts), ALERTS_REPS (3 pairs),
# ALERTS_OUTAGE_N (30000), ALERTS_PHASES ("latency throughput outage"),
# ALERTS_EXTRA_CONF (more postgresql.conf lines).
# About 7 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/alerts/out/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
ln -sfn "$OUT" "$ROOT/bench/alerts/out/latest"
WORK=$(mktemp -d /tmp/rail_stream_alerts.XXXXXX)
chmod 755 "$WORK"
export RAIL_STREAM_CACHE=${RAIL_STREAM_CACHE:-$ROOT/.cache}
RECEIVER=

cleanup() {
	set +e
	[ -n "$RECEIVER" ] && kill "$RECEIVER" 2>/dev/null
	test/pg_tmp.sh stop "$WORK/pg"
	cp "$WORK/pg/server.log" "$OUT/" 2>/dev/null
	test/kafka/kafka.sh stop "$WORK/kafka" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

test/deps.sh
make -s && make -s install >/dev/null
brokers=$(test/kafka/kafka.sh start "$WORK/kafka")
test/kafka/kafka.sh create-topic "$brokers" alerts_bench 1 >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 bench/alerts/fast_receiver.py "$port" "$OUT/arrivals" &
RECEIVER=$!

export PG_EXTRA_CONF="shared_preload_libraries = 'rail_stream'
rail_stream.brokers = '$brokers'
rail_stream.batch_size = 100
jit = off
"
eval "$(test/pg_tmp.sh start "$WORK/pg" 55800)"
export PGHOST PGPORT PGUSER PGDATABASE
psql -Xq -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION rail_stream;
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)
SQL

{
	echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src sql || echo ' (with uncommitted changes)')"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
	python3 bench/alerts/bench.py "$OUT" "$brokers" "$port"
} | tee "$OUT/summary.txt"
