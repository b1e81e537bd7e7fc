#!/usr/bin/env bash
# Temporary PostgreSQL cluster for tests and the demo, of the version that
# PG_CONFIG names (default: pg_config on the PATH).
#
#   test/pg_tmp.sh start DIR [PORT]   initdb + start; prints "export PG..." lines
#   test/pg_tmp.sh stop DIR
#   test/pg_tmp.sh copy DIR           a private copy of the installation under
#                                     DIR; prints the copy's pg_config
#   test/pg_tmp.sh as-server-user CMD...  CMD as the server's user
#
# PostgreSQL refuses to run as root, and CI runs as root: the server then runs
# as the unprivileged "postgres" user, who owns DIR.  Clients connect over the
# Unix socket in DIR as the database superuser "postgres".
set -euo pipefail

PGBIN=${PGBIN:-$("${PG_CONFIG:-pg_config}" --bindir)}

as_server_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local port=$1
	while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

start() {
	local dir=$1 port
	port=$(free_port "${2:-54329}")
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_server_user "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust \
			--encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
	fi
	cat >"$dir/data/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
timezone = 'UTC'
max_wal_size = '2GB'
${PG_EXTRA_CONF:-}
CONF
	as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
	echo "export PGHOST='$dir' PGPORT=$port PGUSER=postgres PGDATABASE=postgres"
}

stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

# PostgreSQL finds its directories relative to its binaries, so a copy
# that keeps their paths below a new prefix is a working installation, into
# which an instrumented build can be installed without touching the real one.
copy() {
	local prefix=$1 src=${PG_CONFIG:-pg_config} what dir done_dir pg_config
	local copied=()
	for what in bindir pkglibdir sharedir includedir pkgincludedir includedir-server; do
		dir=$("$src" --"$what")
		dir=${dir%/}
		for done_dir in "${copied[@]}"; do
			case "$dir/" in "$done_dir"/*) continue 2 ;; esac
		done
		mkdir -p "$prefix$(dirname "$dir")"
		cp -a "$dir" "$prefix$dir"
		copied+=("$dir")
	done
	pg_config=$prefix$("$src" --bindir)/pg_config
	if [ "$("$pg_config" --bindir)" != "$prefix$("$src" --bindir)" ]; then
		echo "pg_tmp.sh: the copy of PostgreSQL in $prefix is not relocatable" >&2
		exit 1
	fi
	echo "$pg_config"
}

as-server-user() { as_server_user "$@"; }

"$@"
