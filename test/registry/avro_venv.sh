#!/usr/bin/env bash
# A Python virtual environment with confluent-kafka's Avro serializer (from
# PyPI, versions pinned), for the Avro tests' producer (produce_avro.py).
#
#   avro_venv.sh DIR              create it in DIR unless it is there; print
#                                 its python.  From PyPI, or without a
#                                 network from the wheels in
#                                 <DIR's parent>/avro-wheels-X.Y when they
#                                 are there (X.Y: the Python version)
#   avro_venv.sh --wheels DIR X.Y download those wheels for Python X.Y into
#                                 DIR: test/matrix/run.sh does, on the host,
#                                 for its chroots
set -euo pipefail
packages=('confluent-kafka[schemaregistry]==2.16.1' 'fastavro==1.13.1')
# Debian's python3, which every user reads (not one on a PATH of root's)
python=/usr/bin/python3

if [ "${1:-}" = --wheels ]; then
	dir=$2 version=$3
	[ -f "$dir/.complete" ] && exit 0
	here=$(cd "$(dirname "$0")" && pwd)
	host_python=$("$here/avro_venv.sh" "$(dirname "$dir")/avro-venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
	rm -rf "$dir"
	"$(dirname "$host_python")/pip" download -q --only-binary=:all: \
		--python-version "$version" --implementation cp \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 \
		-d "$dir" "${packages[@]}" >&2
	touch "$dir/.complete"
	exit 0
fi

dir=$1
if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
	version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	wheels=$(dirname "$dir")/avro-wheels-$version
	rm -rf "$dir"
	"$python" -m venv "$dir"
	if [ -f "$wheels/.complete" ]; then
		"$dir/bin/pip" install -q --no-index --find-links "$wheels" "${packages[@]}" >&2
	else
		"$dir/bin/pip" install -q "${packages[@]}" >&2
	fi
	touch "$dir/.complete"
fi
echo "$dir/bin/python"
