#!/usr/bin/env bash
# test/docker/podman.sh: build docker/postgres/Dockerfile with podman on a
# machine that cannot pull images, and start it: its first start must run
# docker/postgres/initdb/ through the postgres image's own entrypoint.
#
#   test/docker/podman.sh ENTRYPOINT_DIR [WORKDIR]
#
# ENTRYPOINT_DIR holds docker-entrypoint.sh and docker-ensure-initdb.sh of
# the official image (docker-library/postgres, directory 15/bookworm).
# Instead of postgres:15-bookworm, the build starts from a stand-in made
# here: a Debian bookworm made with debootstrap, with Debian's postgresql-15
# and gosu, arranged as the official Dockerfile arranges its image (user
# postgres 999, PATH, PGDATA, the shared postgresql.conf.sample with
# listen_addresses = '*', /docker-entrypoint-initdb.d, the entrypoint).
# The difference: Debian's PostgreSQL 15 packages, not PGDG's.
# Storage: vfs (no overlay mounts needed); builds with chroot isolation and
# runs without cgroups (crun here refuses hybrid cgroups); needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
entrypoint_dir=$(realpath "$1")
work=${2:-/tmp/rail_stream_podman}
podman=(podman --storage-driver vfs)
mkdir -p "$work"

if [ ! -f "$work/base.tar" ]; then
	rm -rf "$work/rootfs"
	debootstrap --variant=minbase --include=postgresql-15,gosu,locales,ca-certificates \
		bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
	# as the official image: one cluster per container, made by the entrypoint
	chroot "$work/rootfs" sh -c 'pg_dropcluster 15 main 2>/dev/null || true;
		apt-get clean; rm -rf /var/lib/apt/lists/*'
	tar -C "$work/rootfs" -cf "$work/base.tar" .
fi
"${podman[@]}" import "$work/base.tar" localhost/debian-debootstrap:bookworm >/dev/null

mkdir -p "$work/standin"
cp "$entrypoint_dir/docker-entrypoint.sh" "$entrypoint_dir/docker-ensure-initdb.sh" "$work/standin/"
cat >"$work/standin/Containerfile" <<'CF'
FROM localhost/debian-debootstrap:bookworm
RUN set -eux; \
	usermod -u 999 postgres && groupmod -g 999 postgres; \
	chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql /etc/postgresql; \
	localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8; \
	mkdir /docker-entrypoint-initdb.d; \
	dpkg-divert --add --rename --divert /usr/share/postgresql/postgresql.conf.sample.dpkg \
		/usr/share/postgresql/15/postgresql.conf.sample; \
	cp -v /usr/share/postgresql/postgresql.conf.sample.dpkg /usr/share/postgresql/postgresql.conf.sample; \
	ln -sv ../postgresql.conf.sample /usr/share/postgresql/15/; \
	sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/postgresql.conf.sample; \
	mkdir -p /var/run/postgresql && chmod 3777 /var/run/postgresql; \
	mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data && chmod 1777 /var/lib/postgresql/data
ENV LANG=en_US.utf8 PG_MAJOR=15 PATH=$PATH:/usr/lib/postgresql/15/bin PGDATA=/var/lib/postgresql/data
COPY docker-entrypoint.sh docker-ensure-initdb.sh /usr/local/bin/
RUN chmod +x /usr/local/bin/docker-entrypoint.sh /usr/local/bin/docker-ensure-initdb.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
CF
"${podman[@]}" build --isolation chroot --network host -t localhost/postgres-standin:15-bookworm "$work/standin"

# the image itself, from the repository's root as compose builds it
"${podman[@]}" build --isolation chroot --network host --build-arg PG_IMAGE=localhost/postgres-standin:15-bookworm \
	-f docker/postgres/Dockerfile -t localhost/rail_stream-postgres:test .

# first start: the entrypoint runs docker/postgres/initdb/
"${podman[@]}" rm -f rail_stream_pg_test >/dev/null 2>&1 || true
"${podman[@]}" run -d --cgroups=disabled --name rail_stream_pg_test --network none \
	-e POSTGRES_PASSWORD=test-pg -e POSTGRES_DB=rail -e GRAFANA_DB_PASSWORD=test-reader \
	localhost/rail_stream-postgres:test postgres -c rail_stream.brokers=127.0.0.1:9 \
	-c rail_stream.database=rail >/dev/null
trap '"${podman[@]}" logs rail_stream_pg_test >"$work/container.log" 2>&1; "${podman[@]}" rm -f rail_stream_pg_test >/dev/null' EXIT
for _ in $(seq 120); do
	"${podman[@]}" logs rail_stream_pg_test 2>&1 | grep -q "PostgreSQL init process complete" && break
	sleep 1
done
sleep 2
"${podman[@]}" exec rail_stream_pg_test psql -U postgres -d rail -X -c "SHOW shared_preload_libraries" \
	-c "SELECT subscription, topic, state FROM rail_stream.subscription_status ORDER BY 1" \
	-c "SELECT station, over_minutes FROM rail_stream.alert_rules ORDER BY id" \
	-c "SELECT count(*) AS locations FROM rail.locations"
"${podman[@]}" exec -e PGPASSWORD=test-reader rail_stream_pg_test psql -h 127.0.0.1 -U grafana_reader -d rail -X \
	-c "SHOW default_transaction_read_only" -c "SELECT subscription, state FROM dashboard.subscription_status ORDER BY 1"
