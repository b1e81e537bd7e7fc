#!/usr/bin/env bash
# One version's part of the matrix, run inside its chroot by
# test/matrix/run.sh, with PG_CONFIG naming that version's pg_config: the
# steps of test/run.sh that do not need the host's clang (build with
# -Werror, pg_regress, the upgrade test, the TAP tests with a real Kafka
# broker).  Ends with "matrix: N passed, N failed", where a test is the
# build, a pg_regress file, a check of the upgrade test or a TAP file.
#
#   MATRIX_STEPS   any of "regress upgrade tap bench" (default: the first
#                  three)
#   MATRIX_BENCH_MESSAGES  bench: bench/e2e/run.sh's MESSAGES (default
#                  200000); its E2E_* settings come from the environment,
#                  its results go to bench/e2e/out/ (which test/matrix/run.sh
#                  mounts from the host)
set -eo pipefail
cd "$(dirname "$0")/../.."
steps=${MATRIX_STEPS:-regress upgrade tap}
has_step() { [[ " $steps " == *" $1 "* ]]; }

passed=0
failed=0
finish() {
	echo "matrix: $passed passed, $failed failed"
	exit $((failed > 0))
}

echo "PostgreSQL: $("$PG_CONFIG" --version), $(. /etc/os-release; echo "$PRETTY_NAME")"
WARN="-Wall -Wextra -Werror -Wno-unused-parameter"
t0=$SECONDS
if make -s -j"$(nproc)" PG_CFLAGS="$WARN" && make -s install >/dev/null; then
	passed=$((passed + 1))
	echo "build: ok ($((SECONDS - t0)) s)"
else
	failed=$((failed + 1))
	echo "build: FAILED"
	finish
fi

tmp=$(mktemp -d /tmp/rail_stream_matrix.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	test/pg_tmp.sh stop "$tmp/pg" || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if has_step regress || has_step upgrade; then
	eval "$(test/pg_tmp.sh start "$tmp/pg")"
fi
if has_step regress; then
	t0=$SECONDS
	status=0
	make -s installcheck >"$tmp/regress.log" 2>&1 || status=$?
	cat "$tmp/regress.log"
	[ $status -ne 0 ] && [ -f regression.diffs ] && cat regression.diffs
	# "name ... ok" up to PostgreSQL 15, TAP ("ok 1 - name") from 16
	p=$(grep -cE ' \.\.\. ok |^ok [0-9]+ ' "$tmp/regress.log" || true)
	f=$(grep -cE ' \.\.\. FAILED |^not ok [0-9]+ ' "$tmp/regress.log" || true)
	[ $status -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	echo "regress: $p passed, $f failed ($((SECONDS - t0)) s)"
fi
if has_step upgrade; then
	t0=$SECONDS
	status=0
	TMPDIR=$tmp test/upgrade/run.sh >"$tmp/upgrade.log" 2>&1 || status=$?
	cat "$tmp/upgrade.log"
	read -r p f < <(sed -n 's/^upgrade: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
		"$tmp/upgrade.log" | tail -1; echo)
	p=${p:-0}
	f=${f:-0}
	[ $status -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	echo "upgrade: $p passed, $f failed ($((SECONDS - t0)) s)"
fi
test/pg_tmp.sh stop "$tmp/pg"

if has_step tap; then
	t0=$SECONDS
	status=0
	tests=(${MATRIX_TAP_TESTS:-test/t/*.pl})
	test/tap.sh "${tests[@]}" 2>&1 | tee "$tmp/tap.log" || status=$?
	p=$(grep -cE '^\[[0-9:]+\] test/t/.*\.pl \.+ ok ' "$tmp/tap.log" || true)
	f=$((${#tests[@]} - p))
	[ $status -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	echo "tap: $p passed, $f failed ($((SECONDS - t0)) s)"
fi
# The end-to-end benchmark against this version's server and librdkafka,
# with the build installed above (the copied tree has no .git to build
# from).  Its broker's and cluster's data go to the chroot's disk, as on
# the host, not to the tmpfs /tmp (where fsync costs nothing).
if has_step bench; then
	t0=$SECONDS
	echo "bench: librdkafka $(dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null || echo '?'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	mkdir -p /build/tmp
	if TMPDIR=/build/tmp E2E_NO_BUILD=1 PGBIN=$("$PG_CONFIG" --bindir) \
		bench/e2e/run.sh "${MATRIX_BENCH_MESSAGES:-200000}"; then
		passed=$((passed + 1))
		echo "bench: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		echo "bench: FAILED ($((SECONDS - t0)) s)"
	fi
fi
finish
