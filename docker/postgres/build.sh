#!/bin/sh
# docker/postgres/build.sh: build and install rail_stream into a PostgreSQL
# installation -- the steps of docker/postgres/Dockerfile, kept here so that
# the test (test/docker/run.sh) runs the very same build on the host.
#
#   docker/postgres/build.sh            build and install into $PG_CONFIG's
#                                       installation (default: pg_config)
#   docker/postgres/build.sh --image    the image's build: install the build
#                                       dependencies from apt, build, install,
#                                       install the reference data under
#                                       /usr/share/rail_stream, preload the
#                                       library in new clusters, then remove
#                                       the build dependencies again
#
# Run it from anywhere: it builds the repository it lives in.  Nothing secret
# goes into the image: passwords come from the environment at first start
# (docker/postgres/initdb).
set -eu

cd "$(dirname "$0")/../.."
PG_CONFIG=${PG_CONFIG:-pg_config}
image=false
[ "${1:-}" = --image ] && image=true

if $image; then
	# the official postgres image carries the PGDG apt source of its version
	major=$(${PG_CONFIG} --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
	build_deps="build-essential pkg-config postgresql-server-dev-$major librdkafka-dev libcurl4-openssl-dev libavro-dev"
	apt-get update
	# libavro's run-time package is named for its soname (libavro23, libavro24...)
	run_deps="librdkafka1 libcurl4 $(apt-cache depends libavro-dev | sed -n 's/^ *Depends: \(libavro[0-9][0-9]*\)$/\1/p')"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		$build_deps $run_deps
	# the run-time libraries stay when the build dependencies go
	apt-mark manual $run_deps >/dev/null
fi

make -s PG_CONFIG="$PG_CONFIG"
make -s PG_CONFIG="$PG_CONFIG" install

if $image; then
	make -s clean
	install -d /usr/share/rail_stream
	install -m 644 data/reference/ukrail_locations.csv /usr/share/rail_stream/
	# every cluster the entrypoint creates preloads the workers' library
	# (the official image keeps its sample at the share directory's top)
	sample=$(${PG_CONFIG} --sharedir)/postgresql.conf.sample
	[ -f "$sample" ] || sample=/usr/share/postgresql/postgresql.conf.sample
	sed -i "s/^#\?shared_preload_libraries *=.*/shared_preload_libraries = 'rail_stream'\t# (rail_stream image)/" \
		"$(readlink -f "$sample")"
	grep -q "^shared_preload_libraries = 'rail_stream'" "$(readlink -f "$sample")"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y --auto-remove $build_deps
	rm -rf /var/lib/apt/lists/*
fi
