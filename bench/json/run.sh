#!/usr/bin/env bash
# JSON parser microbenchmark: microseconds per TRUST frame spent in
# rail_stream.explode_movements (parse the envelope, parse its "text", build
# jsonb) and in rail_stream.ingest_message (parse, transform, upsert) with the
# user triggers of rail.movements off, on two frames:
#   real   data/trust/trust_frame_2024-07-28_matnich89_part1.json, wrapped in
#          the ActiveMQ envelope {"text":"[...]"} as the Kafka connector does
#   gen32  the envelope that "bench/gen_trust.py 32" writes (one frame)
#
#   PG_CONFIG=... bench/json/run.sh [REPS]      (default 2000 frames per run)
#
# Measures the build installed in PG_CONFIG's installation (make install it
# first).  Each ingest runs in a subtransaction that is rolled back, so every
# frame writes the same rows into an empty table.  Three runs per case; the
# best one is printed (a shared machine adds noise, never removes it).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${1:-2000}

tmp=$(mktemp -d /tmp/bench_json.XXXXXX)
chmod 755 "$tmp"
trap 'test/pg_tmp.sh stop "$tmp/pg"; rm -rf "$tmp"' EXIT
eval "$(test/pg_tmp.sh start "$tmp/pg" 55700)"
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

python3 bench/gen_trust.py 32 --out "$tmp/gen32.ndjson" 2>/dev/null
head -1 "$tmp/gen32.ndjson" >"$tmp/gen32.json"
cp data/trust/trust_frame_2024-07-28_matnich89_part1.json "$tmp/real.json"
chmod 644 "$tmp"/*.json

q <<SQL
CREATE EXTENSION rail_stream CASCADE;
ALTER TABLE rail.movements DISABLE TRIGGER USER;
CREATE TABLE bench_json(name text PRIMARY KEY, envelope text);
CREATE TEMP TABLE raw(line text);
\copy raw FROM '$tmp/real.json' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
INSERT INTO bench_json SELECT 'real', jsonb_build_object('text', line)::text FROM raw;
TRUNCATE raw;
\copy raw FROM '$tmp/gen32.json' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
INSERT INTO bench_json SELECT 'gen32', line FROM raw;

CREATE FUNCTION bench_explode(frame text, reps int) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN
	-- the argument depends on g, so that every frame is parsed again
	SELECT count(*) INTO n FROM generate_series(1, reps) AS g,
		LATERAL rail_stream.explode_movements(frame || left(' ', g % 1)) AS x;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / reps;
END \$\$;

CREATE FUNCTION bench_ingest(frame text, reps int) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1 .. reps LOOP
		BEGIN
			PERFORM rail_stream.ingest_message('trust', frame);
			RAISE EXCEPTION 'roll back';
		EXCEPTION WHEN raise_exception THEN NULL;
		END;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / reps;
END \$\$;
SQL

echo "frame  bytes  rows  explode_us/frame  ingest_us/frame  (best of 3, $REPS frames each)"
for name in real gen32; do
	bytes=$(q -c "SELECT octet_length(envelope) FROM bench_json WHERE name = '$name'")
	rows=$(q -c "SELECT count(*) FROM bench_json, rail_stream.explode_movements(envelope) WHERE name = '$name'")
	ex=$(for i in 1 2 3; do q -c "SELECT bench_explode(envelope, $REPS) FROM bench_json WHERE name = '$name'"; done | sort -g | head -1)
	ing=$(for i in 1 2 3; do q -c "SELECT bench_ingest(envelope, $((REPS / 4))) FROM bench_json WHERE name = '$name'"; done | sort -g | head -1)
	printf '%-6s %6s %5s %12.1f %16.1f\n' "$name" "$bytes" "$rows" "$ex" "$ing"
done
