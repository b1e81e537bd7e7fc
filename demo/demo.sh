#!/usr/bin/env bash
# make demo: a local PostgreSQL under .demo/, the sample data loaded through
# rail_stream, and the enriched movements, daily table and dead letters shown.
# The server keeps running afterwards; the last lines say how to connect and
# how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

make -s
make -s install >/dev/null

dir=$PWD/.demo/pg
if [ -f "$dir/data/postmaster.pid" ]; then
	test/pg_tmp.sh stop "$dir"
fi
# the server runs as an unprivileged user when we are root: let it in
[ "$(id -u)" -eq 0 ] && chmod 755 "$PWD/.demo" 2>/dev/null || mkdir -p .demo
chmod 755 .demo
eval "$(test/pg_tmp.sh start "$dir" 5499)"

psql -X -q -f demo/load.sql
psql -X -f demo/show.sql

cat <<MSG

The demo's PostgreSQL keeps running:
  psql -h $PGHOST -p $PGPORT -U postgres
Stop it with:
  test/pg_tmp.sh stop $dir
MSG
