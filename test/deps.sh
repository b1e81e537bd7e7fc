#!/usr/bin/env bash
# Install what rail_stream needs to build, test and run its demo, from
# Debian's packages only.  Does nothing when everything is already there.
set -euo pipefail

packages=(
	build-essential pkg-config
	postgresql-15 postgresql-server-dev-15
	librdkafka-dev libcurl4-openssl-dev libavro-dev zlib1g-dev
	kcat jq libipc-run-perl python3 python3-venv curl openssl
	clang-14 libclang-rt-14-dev
	openjdk-17-jre-headless maven
	docker-compose
	debootstrap debhelper dpkg-dev postgresql-server-dev-all
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
