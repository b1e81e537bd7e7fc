#!/usr/bin/env bash
# tumbling_window_counts benchmark: peak backend memory and time of the
# function against the plain GROUP BY a user would write, on two tables:
#
#   many   WINDOW_MANY_ROWS (4,000,000) rows in WINDOW_MANY_GROUPS
#          (2,000,000) (day, key) groups: the worst case, one result row
#          per two input rows
#   real   WINDOW_REAL_ROWS (1,000,000) movements-like rows over 10 days,
#          25 TOCs x 4 statuses: about 1,000 groups, as the talk's query
#
#   PG_CONFIG=... bench/window/run.sh        # as root, like make test
#
# Builds and installs the working tree into the PostgreSQL that PG_CONFIG
# names, starts a temporary server (test/pg_tmp.sh; jit off, work_mem
# WINDOW_WORK_MEM, shared_buffers 16MB so that the shared memory a backend
# touches stays small next to what it allocates), loads the tables, then for
# each table runs WINDOW_REPS (3) interleaved rounds of the queries below,
# after one warm-up round, each in a fresh session:
#
#   function   SELECT count(*), sum(count) FROM tumbling_window_counts(...)
#   group_by   the same counts by a plain GROUP BY ... ORDER BY of the
#              window and the group columns
#   same_sql   the exact query the function runs, as plain SQL
#
# (the counts are summed so that no result crosses the socket).  Per run:
# elapsed time (psql \timing), the backend's VmHWM after the query and its
# peak RssAnon sampled every 5 ms by a side process, minus its RssAnon
# before the query.  Writes bench/window/out/<run>/ (summary.txt,
# runs.tsv, plans.txt, server.log); bench/window/out/latest is the last run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PG_CONFIG=${PG_CONFIG:-pg_config}
export PG_CONFIG
REPS=${WINDOW_REPS:-3}
WORK_MEM=${WINDOW_WORK_MEM:-4MB}
MANY_ROWS=${WINDOW_MANY_ROWS:-4000000}
MANY_GROUPS=${WINDOW_MANY_GROUPS:-2000000}
REAL_ROWS=${WINDOW_REAL_ROWS:-1000000}
OUT=$ROOT/bench/window/out/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
ln -sfn "$OUT" "$ROOT/bench/window/out/latest"
WORK=$(mktemp -d /tmp/rail_stream_window.XXXXXX)
chmod 755 "$WORK"

cleanup() {
	set +e
	test/pg_tmp.sh stop "$WORK/pg"
	cp "$WORK/pg/server.log" "$OUT/" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

make -s PG_CONFIG="$PG_CONFIG" && make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
export PG_EXTRA_CONF="jit = off
work_mem = '$WORK_MEM'
shared_buffers = '16MB'
"
eval "$(test/pg_tmp.sh start "$WORK/pg" 55900)"
export PGHOST PGPORT PGUSER PGDATABASE

echo "loading tables" >&2
psql -Xq -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION rail_stream;
SET TimeZone = 'Europe/London';
-- two UK days, the second 23 hours long (clocks change on 2024-03-31)
CREATE TABLE many (t timestamptz, k text);
INSERT INTO many
SELECT timestamptz '2024-03-30 00:00' + (i / ($MANY_GROUPS / 2) % 2) * interval '1 day'
       + (i % 1380) * interval '1 minute',
       (i % ($MANY_GROUPS / 2))::text
FROM generate_series(0, $MANY_ROWS - 1) i;
CREATE TABLE real (actual_timestamp timestamptz, toc_id text, variation_status text);
INSERT INTO real
SELECT timestamptz '2024-07-20 00:00' + random() * interval '10 days',
       (20 + (random() * 24)::int)::text,
       (ARRAY['EARLY', 'ON TIME', 'LATE', 'OFF ROUTE'])[1 + (random() * 3)::int]
FROM generate_series(1, $REAL_ROWS);
VACUUM ANALYZE many, real;
SQL

# name|query; the function's arguments and the GROUP BY are the same counts
declare -A Q
Q[many.function]="SELECT count(*), sum(count) FROM rail_stream.tumbling_window_counts('many', 't', '1 day', '{k}')"
Q[many.group_by]="SELECT count(*), sum(n) FROM (SELECT date_bin('1 day', t::timestamp, '2000-01-03') AS w, k, count(*) AS n FROM many GROUP BY 1, 2 ORDER BY 1, 2) s"
Q[many.same_sql]="SELECT count(*), sum(count) FROM (SELECT w::timestamptz, (w + '1 day')::timestamptz, g, count(*) FROM (SELECT date_bin('1 day', t.t::timestamp, '2000-01-03') AS w, ARRAY[t.k::text]::text[] AS g FROM many t WHERE t.t IS NOT NULL) s GROUP BY w, g ORDER BY w, g) r"
Q[real.function]="SELECT count(*), sum(count) FROM rail_stream.tumbling_window_counts('real', 'actual_timestamp', '1 day', '{toc_id,variation_status}')"
Q[real.group_by]="SELECT count(*), sum(n) FROM (SELECT date_bin('1 day', actual_timestamp::timestamp, '2000-01-03') AS w, toc_id, variation_status, count(*) AS n FROM real GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) s"
Q[real.same_sql]="SELECT count(*), sum(count) FROM (SELECT w::timestamptz, (w + '1 day')::timestamptz, g, count(*) FROM (SELECT date_bin('1 day', t.actual_timestamp::timestamp, '2000-01-03') AS w, ARRAY[t.toc_id::text, t.variation_status::text]::text[] AS g FROM real t WHERE t.actual_timestamp IS NOT NULL) s GROUP BY w, g ORDER BY w, g) r"
VARIANTS="function group_by same_sql"

for table in many real; do
	for v in group_by same_sql; do
		echo "== $table.$v" >>"$OUT/plans.txt"
		psql -Xq -v ON_ERROR_STOP=1 -c "SET TimeZone = 'Europe/London'" \
			-c "EXPLAIN ${Q[$table.$v]}" >>"$OUT/plans.txt"
	done
done

# kB of RssAnon or VmHWM in a /proc/<pid>/status file
status_kb() {
	sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "$2"
}

# One run in a fresh session: prints "seconds result hwm_kb peak_anon_kb base_anon_kb"
measure() {
	local query=$1 pidfile=$WORK/pid sampler out
	rm -f "$pidfile" "$WORK/peak" "$WORK/base" "$WORK/after"
	python3 - "$pidfile" "$WORK/peak" <<'PY' &
import os, sys, time
pidfile, peakfile = sys.argv[1:]
deadline = time.time() + 30
while not os.path.exists(pidfile) or os.path.getsize(pidfile) == 0:
    if time.time() > deadline:
        sys.exit("no backend pid")
    time.sleep(0.001)
pid = open(pidfile).read().strip()
peak = 0
while True:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError):
        break
    time.sleep(0.005)
open(peakfile, "w").write(f"{peak}\n")
PY
	sampler=$!
	out=$(psql -XAtq -v ON_ERROR_STOP=1 <<SQL
SET TimeZone = 'Europe/London';
SELECT pg_backend_pid() AS bpid \gset
\setenv BPID :bpid
\! cp /proc/\$BPID/status $WORK/base; echo \$BPID > $pidfile
\timing on
$query;
\timing off
\! cp /proc/\$BPID/status $WORK/after
SQL
	)
	wait "$sampler"
	local secs result
	secs=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | awk '{ printf "%.3f", $1 / 1000 }')
	result=$(grep -v '^Time:' <<<"$out" | head -1)
	echo "$secs $result $(status_kb VmHWM "$WORK/after") $(cat "$WORK/peak") $(status_kb RssAnon "$WORK/base")"
}

{
	echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src sql || echo ' (with uncommitted changes)')"
	echo "$("$PG_CONFIG" --version), work_mem $WORK_MEM, hash_mem_multiplier $(psql -XAtc 'SHOW hash_mem_multiplier'), shared_buffers 16MB, jit off"
	echo "uptime before: $(uptime)"
} >"$OUT/summary.txt"
printf 'table\tvariant\tround\tseconds\tresult\tvmhwm_kb\tpeak_anon_kb\tbase_anon_kb\n' >"$OUT/runs.tsv"

for table in many real; do
	for round in $(seq 0 "$REPS"); do
		for v in $VARIANTS; do
			read -r secs result hwm peak base < <(measure "${Q[$table.$v]}")
			echo "$table $v round $round: ${secs}s result $result VmHWM ${hwm} kB peak RssAnon ${peak} kB (base ${base} kB)" >&2
			[ "$round" -eq 0 ] && continue	# warm-up
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$table" "$v" "$round" "$secs" \
				"$result" "$hwm" "$peak" "$base" >>"$OUT/runs.tsv"
		done
	done
done
echo "uptime after: $(uptime)" >>"$OUT/summary.txt"

# medians per table and variant; memory is peak RssAnon minus the base
python3 - "$OUT/runs.tsv" >>"$OUT/summary.txt" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for (t, v) in sorted({(r["table"], r["variant"]) for r in rows}):
    rs = [r for r in rows if (r["table"], r["variant"]) == (t, v)]
    med[t, v] = (statistics.median(float(r["seconds"]) for r in rs),
                 statistics.median((int(r["peak_anon_kb"]) - int(r["base_anon_kb"])) / 1024 for r in rs),
                 statistics.median(int(r["vmhwm_kb"]) / 1024 for r in rs),
                 {r["result"] for r in rs})
print(f"{'table':6} {'variant':9} {'time s':>8} {'x group_by':>10} {'peak anon MB':>13} {'VmHWM MB':>9}  result (rows|sum)")
for (t, v), (s, anon, hwm, res) in med.items():
    ratio = s / med[t, "group_by"][0]
    print(f"{t:6} {v:9} {s:8.3f} {ratio:10.2f} {anon:13.1f} {hwm:9.1f}  {' '.join(sorted(res))}")
PY
cat "$OUT/summary.txt"
