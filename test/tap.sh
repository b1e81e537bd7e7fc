#!/usr/bin/env bash
# The integration tests: a real Kafka broker, then the TAP tests in test/t.
# Called by test/run.sh; usable alone after "make install".
#
#   test/tap.sh [test/t/NNN_name.pl ...]
set -eo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
clone=$repo
kafka_sh=$repo/test/kafka/kafka.sh

as_test_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

export RAIL_STREAM_CACHE=${RAIL_STREAM_CACHE:-$repo/.cache}
test/kafka/kafka.sh fetch >/dev/null
test/stomp/artemis.sh fetch >/dev/null
test/registry/registry.sh fetch >/dev/null

tmp=$(mktemp -d /tmp/rail_stream_tap.XXXXXX)
chmod 755 "$tmp"
[ "$(id -u)" -eq 0 ] && chown postgres: "$tmp"
cleanup() {
	status=$?
	as_test_user "$kafka_sh" stop "$tmp/kafka" >/dev/null 2>&1 || true
	if [ $status -ne 0 ] && [ -d "$tmp/tmp_check/log" ]; then
		# keep the servers' logs of a failed run, as pg_regress keeps its diffs
		cd "$clone"
		rm -rf tmp_check && mkdir -p tmp_check && cp -r "$tmp/tmp_check/log" tmp_check/
		echo "server logs of the failed run are in tmp_check/log" >&2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The tests run as the unprivileged server user.  If it cannot read this
# clone (say, one under /root), it gets a copy of what the tests read.
if ! as_test_user test -r "$repo/test/t/001_worker_lifecycle.pl"; then
	mkdir -p "$tmp/repo/.cache"
	cp -a test data docker "$tmp/repo/"
	cp -a "$RAIL_STREAM_CACHE"/kafka-* "$RAIL_STREAM_CACHE"/artemis-* \
		"$RAIL_STREAM_CACHE"/apicurio-* "$tmp/repo/.cache/"
	chown -R postgres: "$tmp/repo"
	repo=$tmp/repo
	kafka_sh=$repo/test/kafka/kafka.sh
	export RAIL_STREAM_CACHE=$repo/.cache
	cd "$repo"
fi

# the Avro tests' producer: confluent-kafka's serializer, in a venv of the
# cache (made once, where the test user reads it)
avro_python=$(test/registry/avro_venv.sh "$RAIL_STREAM_CACHE/avro-venv-$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")

# the broker runs as the test user, so that tests can stop and start it
brokers=$(as_test_user env RAIL_STREAM_CACHE="$RAIL_STREAM_CACHE" \
	test/kafka/kafka.sh start "$tmp/kafka")

# the PostgreSQL of PG_CONFIG (default: pg_config on the PATH)
pg_config=${PG_CONFIG:-pg_config}
pgbin=$("$pg_config" --bindir)
pgxs=$(dirname "$("$pg_config" --pgxs)")/..

# TESTDIR places tmp_check up to PostgreSQL 15; TESTDATADIR and TESTLOGDIR
# from 16
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/t/*.pl)
as_test_user env PATH="$pgbin:$PATH" \
	RAIL_STREAM_CACHE="$RAIL_STREAM_CACHE" RAIL_STREAM_REPO="$repo" \
	RAIL_STREAM_TEST_BROKERS="$brokers" RAIL_STREAM_TEST_KAFKA_DIR="$tmp/kafka" \
	RAIL_STREAM_AVRO_PYTHON="$avro_python" \
	TESTDIR="$tmp" TESTDATADIR="$tmp/tmp_check" TESTLOGDIR="$tmp/tmp_check/log" \
	PG_REGRESS="$pgxs/test/regress/pg_regress" \
	prove -I "$pgxs/test/perl" -I test/perl \
	--timer "${tests[@]}"
