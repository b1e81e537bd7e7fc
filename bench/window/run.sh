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
# touches stays small next to what it allocates, no parallel workers so that
# the backend does all the work), loads the tables, then for
# each table runs WINDOW_REPS (3) interleaved rounds of the queries below,
# after one warm-up round, each in a fresh session:
#
#   function   SELECT count(*), sum(count) FROM tumbling_window_counts(...)
#   group_by   the same counts by a plain GROUP BY ... ORDER BY of the
#              window and the group columns
#   array_sql  the query of the first version of the function, as plain
#              SQL: grouped and sorted on the text[] of the group columns
#
# (the counts are summed so that no result crosses the socket).  Per run:
# elapsed time (psql \timing), the backend's CPU time (utime + stime from
# /proc/<pid>/stat: steadier than elapsed time on a shared machine), its
# VmHWM after the query and its peak RssAnon sampled every 5 ms by a side
# process, minus its RssAnon before the query.  Writes bench/window/out/<run>/ (summary.txt,
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
max_parallel_workers_per_gather = 0
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
Q[many.array_sql]="SELECT count(*), sum(count) FROM (SELECT w::timestamptz, (w + '1 day')::timestamptz, g, count(*) FROM (SELECT date_bin('1 day', t.t::timestamp, '2000-01-03') AS w, ARRAY[t.k::text]::text[] AS g FROM many t WHERE t.t IS NOT NULL) s GROUP BY w, g ORDER BY w, g) r"
Q[real.function]="SELECT count(*), sum(count) FROM rail_stream.tumbling_window_counts('real', 'actual_timestamp', '1 day', '{toc_id,variation_status}')"
Q[real.group_by]="SELECT count(*), sum(n) FROM (SELECT date_bin('1 day', actual_timestamp::timestamp, '2000-01-03') AS w, toc_id, variation_status, count(*) AS n FROM real GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) s"
Q[real.array_sql]="SELECT count(*), sum(count) FROM (SELECT w::timestamptz, (w + '1 day')::timestamptz, g, count(*) FROM (SELECT date_bin('1 day', t.actual_timestamp::timestamp, '2000-01-03') AS w, ARRAY[t.toc_id::text, t.variation_status::text]::text[] AS g FROM real t WHERE t.actual_timestamp IS NOT NULL) s GROUP BY w, g ORDER BY w, g) r"
VARIANTS="function group_by array_sql"

for table in many real; do
	for v in group_by array_sql; do
		echo "== $table.$v" >>"$OUT/plans.txt"
		psql -Xq -v ON_ERROR_STOP=1 -c "SET TimeZone = 'Europe/London'" \
			-c "EXPLAIN ${Q[$table.$v]}" >>"$OUT/plans.txt"
	done
done

# kB of RssAnon or VmHWM in a /proc/<pid>/status file
status_kb() {
	sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "$2"
}

# CPU seconds (user + system) of the process whose /proc/<pid>/stat is $1
cpu_s() {
	awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / tck }' "$1"
}

# One run in a fresh session: prints
# "seconds cpu_seconds result hwm_kb peak_anon_kb base_anon_kb"
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
\! cp /proc/\$BPID/status $WORK/base; cp /proc/\$BPID/stat $WORK/stat0; echo \$BPID > $pidfile
\timing on
$query;
\timing off
\! cp /proc/\$BPID/status $WORK/after; cp /proc/\$BPID/stat $WORK/stat1
SQL
	)
	wait "$sampler"
	local secs result
	secs=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | awk '{ printf "%.3f", $1 / 1000 }')
	result=$(grep -v '^Time:' <<<"$out" | head -1)
	local cpu
	cpu=$(awk -v a="$(cpu_s "$WORK/stat0")" -v b="$(cpu_s "$WORK/stat1")" 'BEGIN { printf "%.2f", b - a }')
	# a query shorter than the sampling period may go unseen by the sampler
	local peak after
	peak=$(cat "$WORK/peak")
	after=$(status_kb RssAnon "$WORK/after")
	[ "$after" -gt "$peak" ] && peak=$after
	echo "$secs $cpu $result $(status_kb VmHWM "$WORK/after") $peak $(status_kb RssAnon "$WORK/base")"
}

{
	echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src sql || echo ' (with uncommitted changes)'), src/window.c $(git hash-object src/window.c | cut -c1-12)"
	echo "$("$PG_CONFIG" --version), work_mem $WORK_MEM, hash_mem_multiplier $(psql -XAtc 'SHOW hash_mem_multiplier'), shared_buffers 16MB, jit off, no parallel workers"
	echo "uptime before: $(uptime)"
} >"$OUT/summary.txt"
printf 'table\tvariant\tround\tseconds\tcpu_seconds\tresult\tvmhwm_kb\tpeak_anon_kb\tbase_anon_kb\n' >"$OUT/runs.tsv"

for table in many real; do
	for round in $(seq 0 "$REPS"); do
		for v in $VARIANTS; do
			read -r secs cpu result hwm peak base < <(measure "${Q[$table.$v]}")
			echo "$table $v round $round: ${secs}s (cpu ${cpu}s) result $result VmHWM ${hwm} kB peak RssAnon ${peak} kB (base ${base} kB)" >&2
			[ "$round" -eq 0 ] && continue	# warm-up
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$table" "$v" "$round" "$secs" "$cpu" \
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
    m = lambda f: statistics.median(f(r) for r in rs)
    med[t, v] = dict(wall=m(lambda r: float(r["seconds"])),
                     cpu=m(lambda r: float(r["cpu_seconds"])),
                     anon=m(lambda r: (int(r["peak_anon_kb"]) - int(r["base_anon_kb"])) / 1024),
                     hwm=m(lambda r: int(r["vmhwm_kb"]) / 1024),
                     res=" ".join(sorted({r["result"] for r in rs})))
print("medians of", len(rows) // max(len(med), 1), "runs; x = ratio to group_by")
print(f"{'table':6} {'variant':9} {'wall s':>7} {'x':>5} {'cpu s':>7} {'x':>5} {'peak anon MB':>13} {'VmHWM MB':>9}  result (rows|sum)")
for (t, v), d in med.items():
    g = med[t, "group_by"]
    print(f"{t:6} {v:9} {d['wall']:7.2f} {d['wall'] / g['wall']:5.2f} {d['cpu']:7.2f} {d['cpu'] / g['cpu']:5.2f}"
          f" {d['anon']:13.1f} {d['hwm']:9.1f}  {d['res']}")
PY
cat "$OUT/summary.txt"
