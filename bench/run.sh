#!/usr/bin/env bash
# rail_stream SQL-level benchmark: explode_movements and ingest_messages against
# the plain SQL a user would write instead, measured in the same run.
#
#   bench/run.sh [MESSAGES]          (default 100000 TRUST 0003 messages)
#
# What it does (see bench/README.md for how to read the output):
#   1. builds and installs the extension (make, make install) from the
#      committed HEAD (BENCH_SOURCE=worktree: from the working tree);
#   2. generates MESSAGES synthetic TRUST movement messages (bench/gen_trust.py,
#      fixed seed) as ActiveMQ envelopes, one per line;
#   3. starts its own temporary PostgreSQL 15 (test/pg_tmp.sh) and loads the
#      locations and the envelopes into bench_frames(n, envelope text) and
#      bench_frames_jsonb(n, envelope jsonb);
#      The extension's C functions are pointed at a private copy of the
#      library installed in step 1, so that someone else's "make install"
#      during the run cannot swap the code under measurement;
#   4. for each measurement: one discarded warm-up pair, then BENCH_REPS pairs,
#      baseline then rail_stream (A/B/A/B...), each run in a fresh session and,
#      for ingest, on a fresh target (TRUNCATE, CHECKPOINT, sync):
#        explode_text      count(*) over explode_movements(text envelope)
#                          vs jsonb_array_elements((envelope::jsonb->>'text')::jsonb)
#        explode_text_cols the same, all three output columns computed
#                          (msg_type, header, body) on both sides
#        explode_jsonb     explode_movements(jsonb envelope)
#                          vs jsonb_array_elements((envelope->>'text')::jsonb)
#        ingest_notrig     ingest_messages (bench/sql/ingest_messages.sql) vs
#                          bench/sql/baseline_upsert.sql, with the user
#                          triggers of rail.movements disabled
#        ingest            the same with the triggers on (enrichment + counts)
#        ingest_each       ingest_message once per frame, in the same batches
#                          (bench/sql/ingest_batch.sql), triggers on: the
#                          statement triggers then fire once per frame
#      then, once each, a batch-size sweep of "ingest" on the first 10,000
#      messages, and callgrind instruction counts per row for explode;
#   5. writes bench/out/<run>/ (results.csv, context.txt, summary.txt, logs)
#      and prints the summary.
#
# Ingest runs commit every BENCH_BATCH movement messages (whole frames), in
# both paths: one statement per batch.
#
# Environment (all optional):
#   BENCH_REPS=5          measured pairs per measurement (after the warm-up)
#   BENCH_BATCH=250       movement messages per transaction in ingest runs
#   BENCH_SWEEP="1000 5000 all"  batch sizes of the sweep ("" to skip)
#   BENCH_SWEEP_MSGS=10000       messages in the sweep
#   BENCH_CALLGRIND=1     0 to skip the callgrind step (needs valgrind)
#   BENCH_FSYNC=1         0 to skip pg_test_fsync (~20 s)
#   BENCH_PORT=55500      first port tried for the temporary server
#   BENCH_MAX_LOAD=0.3    wait (up to BENCH_LOAD_WAIT=60 s) for the 1-minute
#                         load average to drop below this before measuring
#   BENCH_SOURCE=head     build the committed HEAD (git archive); "worktree"
#                         builds the working tree with its uncommitted edits
#   BENCH_NO_BUILD=1      do not build or install: measure what is installed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MESSAGES=${1:-100000}
REPS=${BENCH_REPS:-5}
BATCH=${BENCH_BATCH:-250}
SWEEP=${BENCH_SWEEP-1000 5000 all}
SWEEP_MSGS=${BENCH_SWEEP_MSGS:-10000}
SOURCE=${BENCH_SOURCE:-head}
CALLGRIND=${BENCH_CALLGRIND:-1}
FSYNC=${BENCH_FSYNC:-1}
PORT=${BENCH_PORT:-55500}
MAX_LOAD=${BENCH_MAX_LOAD:-0.3}
LOAD_WAIT=${BENCH_LOAD_WAIT:-60}
PGBIN=${PGBIN:-$("${PG_CONFIG:-pg_config}" --bindir)}

case $MESSAGES in '' | *[!0-9]*) echo "usage: bench/run.sh [MESSAGES]" >&2; exit 2 ;; esac
[ "$SWEEP_MSGS" -gt "$MESSAGES" ] && SWEEP_MSGS=$MESSAGES

run_id=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/out/$run_id
mkdir -p "$OUT"
RESULTS=$OUT/results.csv
CONTEXT=$OUT/context.txt
log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }

WORK=$(mktemp -d /tmp/rail_stream_bench.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	test/pg_tmp.sh stop "$WORK/pg" || true
	[ -f "$WORK/pg/server.log" ] && cp "$WORK/pg/server.log" "$OUT/server.log"
	rm -rf "$WORK"
}
trap cleanup EXIT

# 1. Build, install, pin ----------------------------------------------------------
# Others may "make install" another build while this runs, and every run
# starts a new backend that loads the library afresh: the benchmark's
# functions are pointed at a private copy of the library installed now.
# By default the committed HEAD is built (from git archive, in $WORK/src), so
# that the figures belong to a commit and not to whatever is half-edited in
# the working tree; BENCH_SOURCE=worktree builds the working tree as it is.
SHA=$(git rev-parse HEAD)
if [ "$SOURCE" = head ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git archive "$SHA" | tar -x -C "$SRC"
	BUILT="${SHA:0:7} (committed HEAD, built from git archive)"
else
	SRC=$ROOT
	BUILT="${SHA:0:7} + working tree ($(git status --porcelain -- src sql Makefile rail_stream.control | wc -l) modified/untracked files in src/, sql/, Makefile)"
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	log "building and installing rail_stream: $BUILT"
	make -C "$SRC" -s PG_CONFIG="$PGBIN/pg_config" >"$OUT/build.log" 2>&1
	make -C "$SRC" -s PG_CONFIG="$PGBIN/pg_config" install >>"$OUT/build.log" 2>&1
else
	BUILT="whatever was installed (BENCH_NO_BUILD=1; HEAD is ${SHA:0:7})"
fi
SO=$("$PGBIN/pg_config" --pkglibdir)/rail_stream.so
EXTVERSION=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "${SRC:-$ROOT}/rail_stream.control")
SCRIPT=$("$PGBIN/pg_config" --sharedir)/extension/rail_stream--$EXTVERSION.sql
mkdir -p "$WORK/lib"
cp "$SO" "$WORK/lib/rail_stream.so"
chmod 755 "$WORK/lib"
so_md5() { md5sum "$1" | cut -c1-12; }
SO_MD5=$(so_md5 "$WORK/lib/rail_stream.so")
SCRIPT_MD5=$(so_md5 "$SCRIPT")
if [ "${BENCH_NO_BUILD:-0}" != 1 ] &&
	{ [ "$SO_MD5" != "$(so_md5 "$SRC/rail_stream.so")" ] ||
		[ "$SCRIPT_MD5" != "$(so_md5 "$SRC/sql/rail_stream--$EXTVERSION.sql")" ]; }; then
	log "another build was installed right after ours: run again"
	exit 1
fi

# jit off: JIT compilation is a per-query constant (tens of ms) that would
# kick in for one side and not the other, depending on row estimates.
# max_wal_size 8GB: no forced checkpoint inside a run (checkpoints are counted
# per run anyway).  fsync and synchronous_commit stay on.
export PG_EXTRA_CONF="jit = off
max_wal_size = '8GB'"
eval "$(test/pg_tmp.sh start "$WORK/pg" "$PORT")"
log "temporary server on port $PGPORT ($WORK/pg)"

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -c "$1"; }

# The extension's C functions load the pinned copy (a catalog update, fine in
# this throw-away cluster)
q "SET client_min_messages = warning; CREATE EXTENSION rail_stream" >/dev/null
PINNED=$(q "WITH u AS (UPDATE pg_catalog.pg_proc SET probin = '$WORK/lib/rail_stream'
                       WHERE probin = '\$libdir/rail_stream' RETURNING 1)
            SELECT count(*) FROM u")
log "pinned $PINNED functions to the library copy (md5 $SO_MD5)"
if [ "$(so_md5 "$SO")" != "$SO_MD5" ] || [ "$(so_md5 "$SCRIPT")" != "$SCRIPT_MD5" ]; then
	log "another build was installed while starting (extension script and library may not match): run again"
	exit 1
fi

# 2. Workload ----------------------------------------------------------------
DATA=$ROOT/bench/out/trust_$MESSAGES.ndjson
log "generating $MESSAGES messages -> ${DATA#$ROOT/}"
python3 bench/gen_trust.py "$MESSAGES" --out "$DATA" 2>"$OUT/gen.log"
cat "$OUT/gen.log" >&2

log "loading locations and envelopes"
"${PSQL[@]}" >/dev/null <<SQL
SET client_min_messages = warning;
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)
-- one TRUST frame in its ActiveMQ envelope per row, n in file order
CREATE TABLE bench_frames (n serial PRIMARY KEY, envelope text NOT NULL)
    WITH (autovacuum_enabled = off);
\copy bench_frames (envelope) FROM '${DATA#$ROOT/}' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
CREATE TABLE bench_frames_jsonb (n int PRIMARY KEY, envelope jsonb NOT NULL)
    WITH (autovacuum_enabled = off);
INSERT INTO bench_frames_jsonb SELECT n, envelope::jsonb FROM bench_frames ORDER BY n;
-- train messages per frame, for cutting the stream into batches
CREATE TABLE bench_frame_sizes (n int PRIMARY KEY, msgs int NOT NULL,
                                before bigint NOT NULL)  -- messages in frames < n
    WITH (autovacuum_enabled = off);
INSERT INTO bench_frame_sizes
SELECT n, msgs, sum(msgs) OVER (ORDER BY n) - msgs
FROM (SELECT n, jsonb_array_length((envelope->>'text')::jsonb) AS msgs
      FROM bench_frames_jsonb) s;
SQL
# separate statements, as VACUUM cannot run in a multi-command string
for t in bench_frames bench_frames_jsonb bench_frame_sizes rail.locations; do
	q "VACUUM (ANALYZE) $t"
done
FRAMES=$(q "SELECT count(*) FROM bench_frames")
LOADED=$(q "SELECT sum(msgs) FROM bench_frame_sizes")
[ "$LOADED" -eq "$MESSAGES" ] || { log "loaded $LOADED messages, expected $MESSAGES"; exit 1; }

# psql script of one ingest run: "path" is ingest_messages, ingest_batch or
# baseline_upsert;
# batches of ~$2 messages (whole frames), over the first $3 messages.  The
# time is taken on the server, from before the first batch to after the last
# (client round trips between batches included, connection set-up excluded).
# The psql variables of bench/sql/movement_columns.sql, which the baseline
# reads, are set before the clock starts (one query, once per session).
make_ingest_script() {
	local path=$1 batch=$2 limit=$3 file=$WORK/$1_$2_$3.sql
	{
		echo '\set ON_ERROR_STOP on'
		echo "\\i $ROOT/bench/sql/movement_columns.sql"
		echo 'SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset'
		echo '\o /dev/null'
		q "SELECT format(E'\\\\set lo %s\n\\\\set hi %s\n\\\\i $ROOT/bench/sql/$path.sql', min(n), max(n))
		   FROM bench_frame_sizes WHERE before < $limit
		   GROUP BY before / $batch ORDER BY before / $batch"
		echo '\o'
		echo 'SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 4);'
	} >"$file"
	echo "$file"
}

# psql script of one explode run
make_explode_script() {
	local name=$1 sql=$2 file=$WORK/$1.sql
	cat >"$file" <<SQL
\set ON_ERROR_STOP on
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$sql \gset
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 4), :rows;
SQL
	echo "$file"
}

# 3. Context ------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_for_quiet() {
	local waited=0
	while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' &&
		[ "$waited" -lt "$LOAD_WAIT" ]; do
		[ "$waited" -eq 0 ] && log "1-minute load $(load1) > $MAX_LOAD: waiting up to ${LOAD_WAIT}s"
		sleep 10
		waited=$((waited + 10))
	done
	if awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; then
		log "WARNING: measuring at load $(load1) (> $MAX_LOAD); paired ratios absorb most of it"
		echo "load_warning: measured at 1-minute load $(load1) > $MAX_LOAD" >>"$CONTEXT"
	fi
}

{
	echo "run: $run_id"
	echo "command: bench/run.sh $MESSAGES"
	echo "settings: BENCH_REPS=$REPS BENCH_BATCH=$BATCH BENCH_SWEEP='$SWEEP' BENCH_SWEEP_MSGS=$SWEEP_MSGS"
	echo "workload: $(tail -n1 "$OUT/gen.log" | sed 's/^gen_trust: //')"
	echo "frames: $FRAMES"
	echo "postgres: $(q 'SELECT version()')"
	echo "build: $BUILT"
	echo "host: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "rail_stream.so: md5 $SO_MD5 (pinned copy of the build installed at the start)"
	echo "valgrind: $(valgrind --version 2>/dev/null || echo none)"
	echo "perf: $(perf --version 2>/dev/null || echo none)"
	echo "config (non-default): $(q "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name)
	                                 FROM pg_settings
	                                 WHERE source NOT IN ('default', 'override', 'client')
	                                   AND name NOT IN ('unix_socket_directories', 'port')")"
} >"$CONTEXT"
if [ "$FSYNC" = 1 ]; then
	log "pg_test_fsync (about 20 s)"
	"$PGBIN/pg_test_fsync" -s 1 -f "$WORK/fsync.tmp" >"$OUT/pg_test_fsync.txt" 2>&1 || true
	echo "fdatasync: $(awk '$1 == "fdatasync" { print $2, $3 ",", $4, $5; exit }' "$OUT/pg_test_fsync.txt") (one 8kB write)" >>"$CONTEXT"
fi

# 4. Measurements ---------------------------------------------------------------
echo "measure,phase,pair,variant,seconds,msgs,rows,dead,ckpt_req,ckpt_timed,wal_bytes,multixacts,md5_key,md5_full,md5_counts,counted,load1" >"$RESULTS"

# one timed explode run: prints the CSV fields from "seconds" to the end
explode_run() {
	local script=$1 msgs=$2 seconds rows
	IFS=, read -r seconds rows < <("${PSQL[@]}" -F, -f "$script")
	echo "$seconds,$msgs,$rows,,,,,,,,,"
}

# fresh target for an ingest run: empty tables, a checkpoint, OS buffers synced
fresh_target() {
	"${PSQL[@]}" -c "TRUNCATE rail.movements, rail.daily_movement_counts, rail_stream.dead_letters" \
		-c "CHECKPOINT" >/dev/null
	sync
}
stats() {  # checkpoints requested, timed, WAL position
	q "SELECT checkpoints_req || ',' || checkpoints_timed || ',' || pg_current_wal_lsn() FROM pg_stat_bgwriter"
}
next_multixact() { q "SELECT next_multixact_id FROM pg_control_checkpoint()"; }

# one timed ingest run on a fresh target: prints the CSV fields from "seconds"
ingest_run() {
	local script=$1 msgs=$2 s0 s1 mx0 mx1 seconds check
	local r0 t0 l0 r1 t1 l1 rows dead mkey mfull mcounts counted
	fresh_target
	mx0=$(next_multixact)
	s0=$(stats)
	seconds=$("${PSQL[@]}" -f "$script")
	s1=$(stats)
	q "CHECKPOINT" >/dev/null   # not timed: makes next_multixact_id current
	mx1=$(next_multixact)
	check=$("${PSQL[@]}" -F, -f bench/sql/check.sql)
	IFS=, read -r r0 t0 l0 <<<"$s0"
	IFS=, read -r r1 t1 l1 <<<"$s1"
	IFS=, read -r rows dead mkey mfull mcounts counted <<<"$check"
	echo "$seconds,$msgs,$rows,$dead,$((r1 - r0)),$((t1 - t0)),$(q "SELECT pg_wal_lsn_diff('$l1', '$l0')"),$((mx1 - mx0)),$mkey,$mfull,$mcounts,$counted"
}

# pairs MEASURE KIND BASELINE_SCRIPT RAIL_STREAM_SCRIPT MSGS [NPAIRS [WARMUP]]
# Runs the warm-up pair (discarded), then NPAIRS pairs, baseline first.
pairs() {
	local measure=$1 kind=$2 base=$3 rs=$4 msgs=$5 npairs=${6:-$REPS} warmup=${7:-1} p phase
	for ((p = 1 - warmup; p <= npairs; p++)); do
		phase=rep
		[ "$p" -le 0 ] && phase=warmup
		for variant in baseline rail_stream; do
			local script=$base fields l
			[ "$variant" = rail_stream ] && script=$rs
			l=$(load1)
			if [ "$kind" = explode ]; then
				fields=$(explode_run "$script" "$msgs")
			else
				fields=$(ingest_run "$script" "$msgs")
			fi
			echo "$measure,$phase,$p,$variant,$fields,$l" >>"$RESULTS"
			log "$measure $phase $p $variant: ${fields%%,*} s"
		done
	done
}

wait_for_quiet
echo "load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$CONTEXT"

# (a) explode ------------------------------------------------------------------
# Both sides start from the same stored envelope.  With a text envelope, plain
# SQL must parse twice (envelope::jsonb, then the "text" string ::jsonb), as
# does explode_movements; with a jsonb envelope, the outer parse is done at
# load time for both.
log "explode: $FRAMES frames, $MESSAGES messages"
pairs explode_text explode \
	"$(make_explode_script sql_text "SELECT count(*) AS rows FROM bench_frames f, jsonb_array_elements((f.envelope::jsonb->>'text')::jsonb)")" \
	"$(make_explode_script rs_text "SELECT count(*) AS rows FROM bench_frames f, rail_stream.explode_movements(f.envelope)")" \
	"$MESSAGES"
# explode_movements always builds msg_type, header and body; here the plain
# SQL has to produce them too (count(x) forces each to be computed)
pairs explode_text_cols explode \
	"$(make_explode_script sql_text_cols "SELECT least(count(m.e->'header'->>'msg_type'), count(m.e->'header'), count(m.e->'body')) AS rows FROM bench_frames f, jsonb_array_elements((f.envelope::jsonb->>'text')::jsonb) AS m(e)")" \
	"$(make_explode_script rs_text_cols "SELECT least(count(x.msg_type), count(x.header), count(x.body)) AS rows FROM bench_frames f, rail_stream.explode_movements(f.envelope) AS x")" \
	"$MESSAGES"
pairs explode_jsonb explode \
	"$(make_explode_script sql_jsonb "SELECT count(*) AS rows FROM bench_frames_jsonb f, jsonb_array_elements((f.envelope->>'text')::jsonb)")" \
	"$(make_explode_script rs_jsonb "SELECT count(*) AS rows FROM bench_frames_jsonb f, rail_stream.explode_movements(f.envelope)")" \
	"$MESSAGES"

# (b) ingest -------------------------------------------------------------------
BASE_ALL=$(make_ingest_script baseline_upsert "$BATCH" "$MESSAGES")
RS_ALL=$(make_ingest_script ingest_messages "$BATCH" "$MESSAGES")
log "ingest, triggers off: $MESSAGES messages in batches of ~$BATCH"
q "ALTER TABLE rail.movements DISABLE TRIGGER USER"
pairs ingest_notrig ingest "$BASE_ALL" "$RS_ALL" "$MESSAGES"
q "ALTER TABLE rail.movements ENABLE TRIGGER USER"

log "ingest, triggers on: $MESSAGES messages in batches of ~$BATCH"
pairs ingest ingest "$BASE_ALL" "$RS_ALL" "$MESSAGES"

log "ingest, triggers on, ingest_message per frame: $MESSAGES messages in batches of ~$BATCH"
pairs ingest_each ingest "$BASE_ALL" \
	"$(make_ingest_script ingest_batch "$BATCH" "$MESSAGES")" "$MESSAGES"

# batch-size sweep, one pair each, no warm-up (caches are warm by now)
for b in $SWEEP; do
	size=$b
	[ "$b" = all ] && size=$SWEEP_MSGS     # one transaction
	log "sweep: first $SWEEP_MSGS messages, batches of ~$size, triggers on"
	pairs "sweep_b$b" ingest \
		"$(make_ingest_script baseline_upsert "$size" "$SWEEP_MSGS")" \
		"$(make_ingest_script ingest_messages "$size" "$SWEEP_MSGS")" \
		"$(q "SELECT sum(msgs) FROM bench_frame_sizes WHERE before < $SWEEP_MSGS")" 1 0
done

# (c) callgrind: instructions per exploded row --------------------------------
# Single-user backend under callgrind for two frame counts; the difference
# cancels start-up and shutdown.  Needs the server stopped.
test/pg_tmp.sh stop "$WORK/pg"
CG=$OUT/callgrind.csv
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
	n1=$((FRAMES / 10 < 100 ? FRAMES / 10 : 100))
	n2=$((3 * n1))
	if [ "$n1" -ge 2 ]; then
		log "callgrind: explode over frames 1..$n1 and 1..$n2"
		mkdir -p "$WORK/cg"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/cg"
		echo "variant,frames,rows,ir" >"$CG"
		for variant in baseline rail_stream; do
			for n in $n1 $n2; do
				if [ "$variant" = baseline ]; then
					sql="SELECT count(*) FROM bench_frames f, jsonb_array_elements((f.envelope::jsonb->>'text')::jsonb) WHERE f.n <= $n;"
				else
					sql="SELECT count(*) FROM bench_frames f, rail_stream.explode_movements(f.envelope) WHERE f.n <= $n;"
				fi
				cmd=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg/$variant.$n.out"
					"$PGBIN/postgres" --single -D "$WORK/pg/data" postgres)
				if [ "$(id -u)" -eq 0 ]; then
					echo "$sql" | runuser -u postgres -- "${cmd[@]}" >"$WORK/cg/$variant.$n.log" 2>&1
				else
					echo "$sql" | "${cmd[@]}" >"$WORK/cg/$variant.$n.log" 2>&1
				fi
				rows=$(sed -n 's/.*count = "\([0-9]*\)".*/\1/p' "$WORK/cg/$variant.$n.log")
				ir=$(sed -n 's/^summary: //p' "$WORK/cg/$variant.$n.out")
				echo "$variant,$n,$rows,$ir" >>"$CG"
			done
			callgrind_annotate "$WORK/cg/$variant.$n2.out" 2>/dev/null | head -45 >"$OUT/callgrind_top_$variant.txt" || true
		done
	fi
fi

# 5. Summary ------------------------------------------------------------------
if [ "$(so_md5 "$SO")" != "$SO_MD5" ]; then
	echo "so_note: another build was installed during the run; the benchmark used its pinned copy" >>"$CONTEXT"
fi
python3 bench/summarize.py "$OUT" | tee "$OUT/summary.txt"
ln -sfn "$run_id" "$ROOT/bench/out/latest"
log "results in ${OUT#$ROOT/}/ (bench/out/latest)"
