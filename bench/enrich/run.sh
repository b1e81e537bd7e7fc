#!/usr/bin/env bash
# The enrichment triggers' cost per row, and their results, for one or more
# git revisions of rail_stream (default: main, then HEAD).
#
#   PG_CONFIG=/path/to/private/copy/pg_config bench/enrich/run.sh [ROWS] [REF...]
#
# For each REF: builds it (git archive), installs it into PG_CONFIG's
# installation (use a private copy: test/pg_tmp.sh copy), creates the
# extension in a new database of a temporary server, loads the reference
# data (the location master through rail.locations_csv, the CIF extract
# through ingest_message), then
#   - inserts 2,500 activations (half of the trains; each points at a
#     schedule of the extract), 20,000 cancellations;
#   - times INSERT INTO rail.movements ... SELECT of ROWS rows (default
#     100,000: real STANOXes, TOC ids known and unknown, trains with and
#     without activation) with the trigger "enrich" enabled and disabled
#     (the other triggers, daily counts and alerts, disabled throughout), and disabled with
#     the rows inserted already enriched (the same, wider, rows as with the
#     trigger), BENCH_REPS times each alternately on an emptied table; per
#     row: (median enabled - median disabled) / ROWS, the same against the
#     enriched rows, and the trigger's own time from EXPLAIN ANALYZE;
#   - prints an md5 over every enriched column of each enriched table
#     (movements, cancellations, activations, schedules), ordered by key:
#     equal md5s mean equal results.
# Nothing here runs from make test.  Environment: BENCH_REPS (default 3),
# BENCH_PORT (default 55950).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

ROWS=${1:-100000}
shift || true
REFS=("$@")
[ ${#REFS[@]} -eq 0 ] && REFS=(main HEAD)
REPS=${BENCH_REPS:-3}
export PG_CONFIG=${PG_CONFIG:-pg_config}
case $ROWS in '' | *[!0-9]*) echo "usage: bench/enrich/run.sh [ROWS] [REF...]" >&2; exit 2 ;; esac

WORK=$(mktemp -d /tmp/rail_stream_enrich_bench.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	test/pg_tmp.sh stop "$WORK/pg" || true
	rm -rf "$WORK"
}
trap cleanup EXIT
eval "$(test/pg_tmp.sh start "$WORK/pg" "${BENCH_PORT:-55950}")"
# the server reads the data files: give it copies it can read
cp data/reference/ukrail_locations.csv data/cif/cif_toc_full_GX_2018-07-02_seq2210_trimmed.ndjson "$WORK/"
chmod 644 "$WORK"/*.csv "$WORK"/*.ndjson

q() { psql -X -v ON_ERROR_STOP=1 -qAt -d bench "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

COLS="msg_type, train_id, planned_event_type, event_type, loc_stanox, toc_id,
      actual_timestamp, variation_status, timetable_variation"
ENRICHED="loc_name, loc_tiploc, loc_crs, loc_lat, loc_lon, toc_name, schedule_key,
      train_uid, power_type, train_category, schedule_num_stops, origin_tiploc,
      origin_name, origin_public_departure, destination_tiploc, destination_name,
      destination_public_arrival"
MD5_SQL="
SELECT 'movements', count(*), count(loc_name), count(power_type),
       count(*) FILTER (WHERE schedule_key = 'no_schedule_activation_found'),
       md5(string_agg(row(msg_key, loc_name, loc_tiploc, loc_crs, loc_lat, loc_lon,
           toc_name, schedule_key, train_uid, power_type, train_category,
           schedule_num_stops, origin_tiploc, origin_name, origin_public_departure,
           destination_tiploc, destination_name, destination_public_arrival)::text,
           E'\n' ORDER BY msg_key))
FROM rail.movements
UNION ALL
SELECT 'cancellations', count(*), count(loc_name), count(canx_reason), count(schedule_key),
       md5(string_agg(row(train_id, canx_timestamp_ms, loc_stanox, toc_name, canx_reason,
           canx_abbrev, loc_name, loc_tiploc, loc_lat, loc_lon, schedule_key,
           train_uid)::text, E'\n' ORDER BY train_id, canx_timestamp_ms, loc_stanox))
FROM rail.cancellations
UNION ALL
SELECT 'activations', count(*), count(sched_origin_name), count(sched_origin_lat), count(toc_name),
       md5(string_agg(row(train_id, toc_name, sched_origin_name, sched_origin_tiploc,
           sched_origin_lat, sched_origin_lon)::text, E'\n' ORDER BY train_id))
FROM rail.activations
UNION ALL
SELECT 'schedules', count(*), count(origin_name), count(destination_lat), count(origin_lat),
       md5(string_agg(row(schedule_key, origin_name, origin_lat, origin_lon,
           destination_name, destination_lat, destination_lon)::text, E'\n' ORDER BY schedule_key))
FROM rail.schedules
ORDER BY 1"

for ref in "${REFS[@]}"; do
	src=$WORK/src
	rm -rf "$src"
	mkdir -p "$src"
	git archive "$ref" | tar -x -C "$src"
	make -s -C "$src" PG_CONFIG="$PG_CONFIG" >/dev/null
	make -s -C "$src" PG_CONFIG="$PG_CONFIG" install >/dev/null
	commit=$(git rev-parse --short "$ref")

	psql -X -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" postgres
	q -c "CREATE EXTENSION rail_stream"
	t0=$(date +%s.%N)
	q -c "\\copy rail.locations_csv FROM '$WORK/ukrail_locations.csv' WITH (FORMAT csv, HEADER)"
	t1=$(date +%s.%N)
	q <<SQL
CREATE TEMP TABLE cif_lines (n serial, line text);
\\copy cif_lines (line) FROM '$WORK/cif_toc_full_GX_2018-07-02_seq2210_trimmed.ndjson' WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')
SELECT sum(written) FROM (SELECT rail_stream.ingest_message('cif', line) AS written FROM cif_lines ORDER BY n) s;
SQL
	t2=$(date +%s.%N)
	q >/dev/null <<'SQL'
-- the other triggers of rail.movements (daily counts, alerts) stay off
ALTER TABLE rail.movements DISABLE TRIGGER USER;
ALTER TABLE rail.movements ENABLE TRIGGER enrich;
-- 5,000 trains of 20 movements; the even ones are activated against a
-- schedule of the extract
CREATE TABLE bench_stanox AS
    SELECT row_number() OVER (ORDER BY stanox) AS i, stanox
    FROM (SELECT DISTINCT stanox FROM rail.locations WHERE stanox IS NOT NULL) s;
CREATE TABLE bench_toc AS
    SELECT row_number() OVER (ORDER BY t) AS i, t AS toc_id
    FROM (SELECT toc_id AS t FROM rail.toc_sectors UNION ALL VALUES ('00'), ('XX')) s;
CREATE TABLE bench_sched AS
    SELECT row_number() OVER (ORDER BY schedule_key) AS i, schedule_key, train_uid
    FROM rail.schedules;
INSERT INTO rail.activations (train_id, msg_type, schedule_key, train_uid,
                              sched_origin_stanox, toc_id)
SELECT 'T' || g, '0001', s.schedule_key, s.train_uid, st.stanox, tc.toc_id
FROM generate_series(0, 4998, 2) g
JOIN bench_sched s ON s.i = 1 + g / 2 % (SELECT count(*) FROM bench_sched)
JOIN bench_stanox st ON st.i = 1 + g * 7 % (SELECT count(*) FROM bench_stanox)
JOIN bench_toc tc ON tc.i = 1 + g % (SELECT count(*) FROM bench_toc);
INSERT INTO rail.cancellations (train_id, canx_timestamp, canx_timestamp_ms, loc_stanox,
                                msg_type, toc_id, canx_reason_code)
SELECT 'T' || (n / 4), '2024-07-28 10:00:00+01', n, st.stanox, '0002', tc.toc_id,
       CASE WHEN n % 10 = 0 THEN NULL WHEN n % 10 = 1 THEN 'Q9'
            ELSE (SELECT canx_reason_code FROM rail.cancellation_reasons
                  ORDER BY canx_reason_code OFFSET n % 50 LIMIT 1) END
FROM generate_series(0, 19999) n
JOIN bench_stanox st ON st.i = 1 + n * 13 % (SELECT count(*) FROM bench_stanox)
JOIN bench_toc tc ON tc.i = 1 + n % (SELECT count(*) FROM bench_toc);
SQL
	q >/dev/null <<SQL
CREATE TABLE bench_movements AS
SELECT '0003' AS msg_type, 'T' || (n / 20) AS train_id,
       CASE WHEN n % 2 = 0 THEN 'ARRIVAL' ELSE 'DEPARTURE' END AS planned_event_type,
       CASE WHEN n % 2 = 0 THEN 'ARRIVAL' ELSE 'DEPARTURE' END AS event_type,
       st.stanox AS loc_stanox, CASE WHEN n % 50 = 0 THEN NULL ELSE tc.toc_id END AS toc_id,
       timestamptz '2024-07-28 06:00:00+01' + n * interval '1 second' AS actual_timestamp,
       'LATE' AS variation_status, n % 15 AS timetable_variation
FROM generate_series(0, $ROWS - 1) n
JOIN bench_stanox st ON st.i = 1 + (n / 2) % (SELECT count(*) FROM bench_stanox)
JOIN bench_toc tc ON tc.i = 1 + n % (SELECT count(*) FROM bench_toc);
VACUUM ANALYZE;
SQL

	# the same rows as enriched, for inserting them whole without the trigger
	q -c "TRUNCATE rail.movements" -c "INSERT INTO rail.movements ($COLS) SELECT $COLS FROM bench_movements"
	q -c "CREATE TABLE bench_movements_enriched AS SELECT $COLS, $ENRICHED FROM rail.movements"
	on=()
	off=()
	full=()
	trig=()
	for ((r = 0; r < REPS; r++)); do
		for mode in ENABLE DISABLE FULL; do
			src=bench_movements
			cols=$COLS
			if [ $mode = FULL ]; then
				src=bench_movements_enriched
				cols="$COLS, $ENRICHED"
			fi
			q -c "TRUNCATE rail.movements" -c "ALTER TABLE rail.movements ${mode/FULL/DISABLE} TRIGGER enrich" -c "CHECKPOINT"
			out=$(q -c "EXPLAIN (ANALYZE, COSTS OFF) INSERT INTO rail.movements ($cols) SELECT $cols FROM $src")
			total=$(sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' <<<"$out")
			case $mode in
				ENABLE)
					on+=("$total")
					trig+=("$(sed -n 's/^Trigger enrich: time=\([0-9.]*\) calls=.*/\1/p' <<<"$out")")
					;;
				DISABLE) off+=("$total") ;;
				FULL) full+=("$total") ;;
			esac
		done
	done
	# the results: the last run with the trigger on
	q -c "TRUNCATE rail.movements" -c "ALTER TABLE rail.movements ENABLE TRIGGER enrich"
	q -c "INSERT INTO rail.movements ($COLS) SELECT $COLS FROM bench_movements"

	on_ms=$(printf '%s\n' "${on[@]}" | median)
	off_ms=$(printf '%s\n' "${off[@]}" | median)
	full_ms=$(printf '%s\n' "${full[@]}" | median)
	trig_ms=$(printf '%s\n' "${trig[@]}" | median)
	echo "== $ref ($commit)"
	echo "load: locations csv $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s, cif $(awk "BEGIN {printf \"%.1f\", $t2 - $t1}") s"
	echo "insert $ROWS movements: enrich on ${on[*]} ms; off ${off[*]} ms;" \
		"off, rows inserted already enriched ${full[*]} ms (medians $on_ms / $off_ms / $full_ms)"
	awk "BEGIN {printf \"per row: %.2f us (on - off), %.2f us (on - off with the enriched rows), trigger time %.2f us (EXPLAIN ANALYZE)\n\", \
		($on_ms - $off_ms) * 1000 / $ROWS, ($on_ms - $full_ms) * 1000 / $ROWS, $trig_ms * 1000 / $ROWS}"
	echo "table|rows|count a|count b|count c|md5 of the enriched columns"
	q -F'|' -c "$MD5_SQL"
done
