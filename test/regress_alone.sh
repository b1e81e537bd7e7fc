#!/usr/bin/env bash
# Each pg_regress file of test/sql alone, in a database of its own.
#
#   test/regress_alone.sh [TEST...]   (default: every test/sql/*.sql)
#
# "make installcheck" runs the files one after the other in one database,
# where a file could lean on the rows an earlier one left.  Each file must
# instead load what it needs (test/sql/fixtures) and so pass alone, as
# "make installcheck REGRESS=05_punctuality" runs it: this script proves it
# for all of them without the Makefile.  It starts one temporary server
# (test/pg_tmp.sh, of the PostgreSQL that PG_CONFIG names), then runs
# PostgreSQL's pg_regress as PGXS's installcheck does (same input directory,
# --load-extension), once per file, each into a fresh database named after
# the file and its own output directory; the diffs of a failed file are
# printed.  The extension must be installed in that PostgreSQL first
# ("make PG_CONFIG=... install").
#
# Closing line: "regress-alone: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

pg_config=${PG_CONFIG:-pg_config}
pg_regress=$(dirname "$("$pg_config" --pgxs)")/../test/regress/pg_regress
bindir=$("$pg_config" --bindir)
if [ ! -f "$("$pg_config" --sharedir)/extension/rail_stream.control" ]; then
	echo "regress_alone: rail_stream is not installed in $("$pg_config" --sharedir):" \
		"run \"make PG_CONFIG=$pg_config install\" first" >&2
	exit 1
fi

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=()
	for f in test/sql/*.sql; do
		tests+=("$(basename "$f" .sql)")
	done
fi

tmp=$(mktemp -d /tmp/rail_stream_alone.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	PG_CONFIG=$pg_config test/pg_tmp.sh stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT
eval "$(PG_CONFIG=$pg_config test/pg_tmp.sh start "$tmp/pg")"

passed=0
failed=0
for t in "${tests[@]}"; do
	out=$tmp/$t
	mkdir -p "$out"
	started=$SECONDS
	if "$pg_regress" --inputdir=test --outputdir="$out" --bindir="$bindir" \
		--load-extension=rail_stream --dbname="alone_$t" "$t" >"$out/log" 2>&1; then
		passed=$((passed + 1))
		echo "$t ... ok ($((SECONDS - started)) s)"
	else
		failed=$((failed + 1))
		echo "$t ... FAILED ($((SECONDS - started)) s)"
		cat "$out/log"
		[ -f "$out/regression.diffs" ] && cat "$out/regression.diffs"
	fi
done
echo "regress-alone: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
