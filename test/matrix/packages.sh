#!/usr/bin/env bash
# The Debian packages a chroot of test/matrix/run.sh gets for PostgreSQL
# version $1, one a line: those of test/deps.sh that building and testing
# need (not Maven: the host fetches the Kafka jars; not clang: the sanitizer
# and fuzzing steps run on the host's version only), for that version, and
# GNU time, which the bench step's bench/e2e/run.sh times its clients with.
set -euo pipefail
v=$1
printf '%s\n' \
	build-essential pkg-config \
	"postgresql-$v" "postgresql-server-dev-$v" \
	librdkafka-dev libcurl4-openssl-dev libavro-dev zlib1g-dev \
	kcat jq libipc-run-perl python3 python3-venv curl openssl \
	default-jre-headless time \
	ca-certificates util-linux
