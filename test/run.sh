#!/usr/bin/env bash
# make test: build, install, start a temporary PostgreSQL, run pg_regress.
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

# one closing line for the whole suite
passed=$(grep -c ' \.\.\. ok ' "$tmp/regress.log" || true)
failed=$(grep -c ' \.\.\. FAILED ' "$tmp/regress.log" || true)
echo "$passed passed, $failed failed"
exit $status
