#!/usr/bin/env bash
# A Python virtual environment with confluent-kafka's Avro serializer (from
# PyPI, versions pinned), for the Avro tests' producer (produce_avro.py).
#
#   avro_venv.sh DIR    create it in DIR unless it is there; print its python
set -euo pipefail
dir=$1
if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir"
	# Debian's python3, which every user reads (not one on a PATH of root's)
	/usr/bin/python3 -m venv "$dir"
	"$dir/bin/pip" install -q \
		'confluent-kafka[avro,schemaregistry]==2.16.1' 'fastavro==1.13.1' >&2
	touch "$dir/.complete"
fi
echo "$dir/bin/python"
