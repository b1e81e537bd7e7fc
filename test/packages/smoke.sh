#!/bin/bash
#
# test/packages/smoke.sh: the smoke test of an installed rail_stream package
#
#   smoke.sh MAJOR FRAME
#
# Run as root on a system where postgresql-MAJOR-rail-stream was installed
# from its .deb (test/packages/run.sh runs it in a clean Debian chroot;
# debian/tests/smoke runs it under autopkgtest).  FRAME is a TRUST frame of
# data/trust, a JSON array of {header, body} messages.
#
# It starts a throw-away cluster of the packaged server as user postgres,
# with the library preloaded, on a Unix socket only (no TCP port, so nothing
# else on the machine is disturbed), and checks what a user of the package
# would check first: the extension is available and creates, its C functions
# work, a real frame lands in the rail tables, the two static background
# workers run, and a 1.0 install updates to the packaged default version.
# Rows are checked against counts PostgreSQL computes from the frame itself,
# versions against the installed control file.
#
# Prints one "ok - ..." or "not ok - ..." line per check, and exits non-zero
# when a check failed.

set -u

major=${1:?usage: smoke.sh MAJOR FRAME}
frame=${2:?usage: smoke.sh MAJOR FRAME}
bindir=/usr/lib/postgresql/$major/bin
extdir=/usr/share/postgresql/$major/extension

failed=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failed=1; }

# check NAME COMMAND...: ok when the command succeeds
check()
{
	local name=$1
	shift
	if "$@"; then ok "$name"; else notok "$name"; fi
}

dir=$(mktemp -d /tmp/rs-smoke.XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"
cp "$frame" "$dir/frame.json"
chmod 644 "$dir/frame.json"

as_pg() { runuser -u postgres -- "$@"; }

stop()
{
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
			as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
}
trap stop EXIT

# psql DB SQL: the single value of SQL, unaligned; errors go to stderr
q()
{
	local db=$1
	shift
	as_pg "$bindir/psql" -h "$dir" -d "$db" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# --- the package's files ---------------------------------------------------
check "postgresql-$major-rail-stream installs rail_stream.so" \
	test -f "/usr/lib/postgresql/$major/lib/rail_stream.so"
default=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" \
	"$extdir/rail_stream.control")
check "the control file names a default version ($default)" test -n "$default"
for f in "rail_stream--$default.sql" rail_stream--1.0.sql "rail_stream--1.0--$default.sql"; do
	check "the package installs $f" test -s "$extdir/$f"
done

# --- a cluster with the library preloaded ----------------------------------
if ! as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync \
	>"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log"
	notok "initdb of PostgreSQL $major"
	exit 1
fi
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'rail_stream'
rail_stream.database = 'postgres'
EOF
if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
	>/dev/null; then
	ok "PostgreSQL $major starts with shared_preload_libraries = rail_stream"
else
	notok "PostgreSQL $major starts with shared_preload_libraries = rail_stream"
	cat "$dir/server.log"
	exit 1
fi

check "CREATE EXTENSION rail_stream" \
	q postgres -c 'CREATE EXTENSION rail_stream'
v=$(q postgres -c "SELECT extversion FROM pg_extension WHERE extname = 'rail_stream'")
check "the new extension is the default version ($v = $default)" \
	test "$v" = "$default"

v=$(q postgres -c "SELECT rail_stream.decode_power_type('EMU')")
check "decode_power_type('EMU') is '$v'" test "$v" = "Electric Multiple Unit"

# explode_movements: one row per message of the frame, as jsonb counts them
v=$(cd "$dir" && q postgres <<'EOF'
\set frame `cat frame.json`
SELECT (SELECT count(*) FROM rail_stream.explode_movements(:'frame'))
     = jsonb_array_length(:'frame'::jsonb)
   AND jsonb_array_length(:'frame'::jsonb) > 0;
EOF
)
check "explode_movements returns one row per message of the frame" test "$v" = t

# ingest_message: the frame's movements land, one row per movement key
v=$(cd "$dir" && q postgres <<'EOF'
\set frame `cat frame.json`
SELECT rail_stream.ingest_message('trust', :'frame') AS written \gset
SELECT :written > 0
   AND (SELECT count(*) FROM rail.movements)
     = (SELECT count(DISTINCT (m->'body'->>'train_id',
                               m->'body'->>'planned_event_type',
                               m->'body'->>'loc_stanox'))
        FROM jsonb_array_elements(:'frame'::jsonb) m
        WHERE m->'header'->>'msg_type' = '0003')
   AND (SELECT count(*) FROM rail.movements) > 0;
EOF
)
check "ingest_message of the frame writes its movements to rail.movements" test "$v" = t

# the static workers: poll (bounded) until both are in pg_stat_activity
seen=
for i in $(seq 1 60); do
	seen=$(q postgres -c "SELECT string_agg(DISTINCT backend_type, ', ' ORDER BY backend_type)
		FROM pg_stat_activity
		WHERE backend_type IN ('rail_stream launcher', 'rail_stream alert sender')")
	[ "$seen" = "rail_stream alert sender, rail_stream launcher" ] && break
	sleep 0.5
done
check "the launcher and the alert sender are in pg_stat_activity ($seen)" \
	test "$seen" = "rail_stream alert sender, rail_stream launcher"

# the update path: 1.0, then ALTER EXTENSION UPDATE to the default
q postgres -c 'CREATE DATABASE upgrade' >/dev/null
check "CREATE EXTENSION rail_stream VERSION '1.0'" \
	q upgrade -c "CREATE EXTENSION rail_stream VERSION '1.0'"
check "ALTER EXTENSION rail_stream UPDATE" \
	q upgrade -c 'ALTER EXTENSION rail_stream UPDATE'
v=$(q upgrade -c "SELECT extversion FROM pg_extension WHERE extname = 'rail_stream'")
check "the updated extension is the default version ($v = $default)" \
	test "$v" = "$default"
v=$(q upgrade -c "SELECT rail_stream.decode_power_type('EMU')")
check "the updated extension works (decode_power_type('EMU') is '$v')" \
	test "$v" = "Electric Multiple Unit"

if grep -E 'PANIC|server process .* was terminated' "$dir/server.log"; then
	notok "the server log has no crash"
else
	ok "the server log has no crash"
fi

exit $failed
