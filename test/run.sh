#!/usr/bin/env bash
# make test: build, install, then
#   1. pg_regress (test/sql, expected/) on a temporary PostgreSQL, no preload,
#      all files in one database, then each file alone in a database of its
#      own (test/regress_alone.sh);
#   2. the upgrade test (test/upgrade/run.sh) on the same server;
#   3. the TAP tests (test/t, and the feeder's docker/feeder/t with a real
#      Apache Artemis) against a real Apache Kafka broker (test/tap.sh);
#   4. pg_regress again, built with AddressSanitizer and UndefinedBehavior-
#      Sanitizer, on a private copy of PostgreSQL (test/sanitize.sh);
#   5. libFuzzer over the transforms in a backend, for FUZZ_SECONDS
#      (default 60; test/fuzz/run.sh);
#   6. docker/: the compose file validated, the Postgres image's build and
#      first-start scripts run on the host, and every Grafana panel's query
#      run as the dashboards' read-only role (test/docker/run.sh);
#   7. the packages: the release tarball, the .debs built from it and
#      installed into a clean Debian 12 chroot with a smoke test
#      (test/packages/run.sh).
# Each step runs whatever the others gave; the closing line counts them all.
set -eo pipefail
cd "$(dirname "$0")/.."

WARN="-Wall -Wextra -Werror -Wno-unused-parameter"
make -s PG_CFLAGS="$WARN"
make -s install >/dev/null

tmp=$(mktemp -d /tmp/rail_stream_test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	test/pg_tmp.sh stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT

eval "$(test/pg_tmp.sh start "$tmp/pg")"
status=0
make -s installcheck 2>&1 | tee "$tmp/regress.log" || status=$?
if [ $status -ne 0 ] && [ -f regression.diffs ]; then
	cat regression.diffs
fi
upgrade_status=0
TMPDIR=$tmp test/upgrade/run.sh 2>&1 | tee "$tmp/upgrade.log" || upgrade_status=$?
test/pg_tmp.sh stop "$tmp/pg"

alone_status=0
test/regress_alone.sh 2>&1 | tee "$tmp/regress-alone.log" || alone_status=$?

tap_status=0
test/tap.sh test/t/*.pl docker/feeder/t/*.pl 2>&1 | tee "$tmp/tap.log" || tap_status=$?

sanitize_status=0
test/sanitize.sh 2>&1 | tee "$tmp/sanitize.log" || sanitize_status=$?

fuzz_status=0
test/fuzz/run.sh 2>&1 | tee "$tmp/fuzz.log" || fuzz_status=$?

docker_status=0
test/docker/run.sh 2>&1 | tee "$tmp/docker.log" || docker_status=$?

packages_status=0
test/packages/run.sh 2>&1 | tee "$tmp/packages.log" || packages_status=$?

# one closing line for the whole suite: test files passed and failed
# pg_regress says "name ... ok" up to PostgreSQL 15, "ok 1 - name" from 16
passed=$(grep -cE ' \.\.\. ok |^ok [0-9]+ ' "$tmp/regress.log" || true)
failed=$(grep -cE ' \.\.\. FAILED |^not ok [0-9]+ ' "$tmp/regress.log" || true)
passed=$((passed + $(grep -cE '^\[[0-9:]+\] (test|docker/feeder)/t/.* ok ' "$tmp/tap.log" || true)))
# the other steps end with "<step>: N passed, N failed"
for step in regress-alone upgrade sanitize fuzz docker packages; do
	read -r p f < <(sed -n "s/^$step: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" \
		"$tmp/$step.log" | tail -1; echo)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
done
failed=$((failed + $(grep -cE '^(test|docker/feeder)/t/.*\(Wstat' "$tmp/tap.log" || true)))
[ $tap_status -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
for st in $alone_status $upgrade_status $sanitize_status $fuzz_status $docker_status \
	$packages_status; do
	[ "$st" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
done
echo "$passed passed, $failed failed"
[ $status -eq 0 ] && [ $alone_status -eq 0 ] && [ $upgrade_status -eq 0 ] &&
	[ $tap_status -eq 0 ] &&
	[ $sanitize_status -eq 0 ] && [ $fuzz_status -eq 0 ] && [ $docker_status -eq 0 ] &&
	[ $packages_status -eq 0 ]
