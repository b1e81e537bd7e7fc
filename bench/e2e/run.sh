#!/usr/bin/env bash
# rail_stream end-to-end ingest benchmark: TRUST movements from a real Kafka
# broker into rail.movements, rail_stream's ingest worker against the
# pipeline a user would otherwise script, on the same broker, the same data,
# in the same run.
#
#   bench/e2e/run.sh [MESSAGES]      (default 1000000 TRUST movement messages)
#
# What it does (bench/e2e/README.md explains the method and the output):
#   1. builds the working tree's sources in a private copy and installs them
#      (make, make install); the server runs from a private copy of
#      PostgreSQL's bin/ and lib/ holding this build's rail_stream.so, so that
#      others' installs cannot change the code under it;
#   2. generates MESSAGES TRUST 0003 messages with bench/gen_trust.py (fixed
#      seed, ~10 % re-reports of an earlier key) and splits them into one
#      stream per partition by train_id, framed up to 32 per Kafka message
#      in the ActiveMQ envelope {"text":"[...]"} (make_partitions.py); the
#      files are cached in bench/e2e/out/data/;
#   3. starts its own Kafka 4.1 broker (test/kafka/kafka.sh) and its own
#      PostgreSQL (15, or the version PGBIN names) with rail_stream preloaded (test/pg_tmp.sh) on fresh
#      ports in a temporary directory, loads the locations, creates a topic
#      of E2E_PARTITIONS partitions and produces the data to it once (kcat),
#      plus a warm-up topic (the first 1/20 of each partition) and, when
#      E2E_ON_MESSAGES < MESSAGES, a smaller topic for the triggers-on runs;
#   4. measures, interleaved, each run on a fresh target (TRUNCATE,
#      CHECKPOINT, sync), the baselines of E2E_BASELINES and rail_stream:
#        baseline     ("jq") kcat -C ... -e | jq -c '.text|fromjson[]' |
#                     psql: \copy into a temporary staging table, then ONE
#                     INSERT ... SELECT DISTINCT ON ... ON CONFLICT DO UPDATE
#                     (baseline.sql); timed from the start of kcat to the
#                     exit of psql after the INSERT committed;
#        baseline_sql ("sql") no jq: kcat -C ... -e | psql: \copy of one
#                     Kafka message (envelope) per staging row, as text,
#                     then ONE INSERT that explodes the frames
#                     (jsonb_array_elements WITH ORDINALITY), DISTINCT ON,
#                     ON CONFLICT DO UPDATE (baseline_sql.sql); timed alike;
#        baseline_setbased ("setbased", triggers-on runs only) the same
#                     pipe, then in one transaction: user triggers of
#                     rail.movements disabled, ONE statement doing the
#                     upsert with the enrichment as joins and the daily
#                     counts from its RETURNING rows, triggers enabled
#                     again (baseline_setbased.sql); timed alike, the two
#                     ALTER TABLEs included;
#        rail_stream  create_subscription(..., start earliest) under a new
#                     name; timed from its commit to the first 100 ms poll
#                     at which every partition's committed offset is the
#                     topic's end offset with lag 0 in
#                     rail_stream.subscription_status, and count(*) of
#                     rail.movements is the expected row count; the worker's
#                     /proc/<pid>/status is sampled every 100 ms; the
#                     subscription is dropped afterwards;
#      in this order:
#        warm-up on the warm-up topic, triggers off: the baselines but
#        setbased, then rail_stream (discarded);
#        pairs (each baseline in E2E_BASELINES order, then rail_stream),
#        alternating: E2E_ON_PAIRS with the user triggers of rail.movements
#        on (enrichment + daily counts), E2E_OFF_PAIRS with them off
#        (setbased skipped: it is a triggers-on replacement);
#        one rail_stream run for each configuration of E2E_EXTRA;
#        one profiled rail_stream run (perf record) per mode of E2E_PERF;
#      after every run the rows are checked (bench/sql/check.sql, as in the
#      SQL-level benchmark): every run of a
#      trigger mode must leave the same rows and the same md5s;
#   5. writes bench/e2e/out/<run>/ (results.csv, context.txt, summary.txt,
#      samples/, logs) and prints the summary (summarize.py).
#
# At 1,000,000 messages, with the jq baseline alone (E2E_BASELINES=jq), one
# triggers-on pair takes about 10 minutes and one triggers-off pair about
# 2.5 on the 2-core machine: 2 + 1 pairs took about 25 minutes.  Each
# further baseline adds its own runs to every pair.
#
# Environment (all optional):
#   E2E_PARTITIONS=4        partitions of the topic
#   E2E_ON_PAIRS=2          measured pairs, triggers on (the headline)
#   E2E_ON_MESSAGES=all     messages of the triggers-on runs: a number for
#                           the first part of each partition (quicker)
#   E2E_OFF_PAIRS=1         measured pairs, triggers off (0 to skip)
#   E2E_BATCH=100           rail_stream batch_size (Kafka messages, i.e.
#                           frames of up to 32 movements, per transaction)
#   E2E_PARALLELISM=1       rail_stream parallelism of the paired runs
#   E2E_EXTRA=""            extra rail_stream runs, one each, as
#                           batch_size:parallelism:triggers, e.g.
#                           "1000:1:off 1000:1:on 100:2:off"
#   E2E_PERF=""             "off" and/or "on": a profiled run per mode
#   E2E_WARMUP=1            0 to skip the warm-up pair
#   E2E_BASELINES="jq sql setbased"
#                           the baselines run in every pair, in this order
#                           (any subset; "" for rail_stream alone); each
#                           pair's ratio is taken against each of them
#   E2E_FSYNC=1             0 to skip pg_test_fsync (~20 s)
#   E2E_MAX_LOAD=0.5        wait (up to E2E_LOAD_WAIT=120 s) for the 1-minute
#                           load to drop below this before measuring
#   E2E_PG_PORT=55700       first port tried for PostgreSQL
#   E2E_PG_CONF=""          more postgresql.conf lines for the server, e.g.
#                           "rail_stream.queue_kbytes = 65536"
#   E2E_TIMEOUT=1800        seconds a single rail_stream run may take
#   E2E_NO_BUILD=1          do not build: use the installed rail_stream.so
#   E2E_KEEP_DATA=0         1 keeps the temp dir (broker and cluster data)
#   PG_CONFIG, PGBIN        the PostgreSQL (15 or later) to build against,
#                           install into and run: PGBIN, else PG_CONFIG's
#                           --bindir, else pg_config's in PATH; the build
#                           installs with make PG_CONFIG=$PGBIN/pg_config,
#                           into that one (a copy made with test/pg_tmp.sh
#                           copy works: the server reads that copy's share/)
#   TMPDIR=/tmp             where the broker's and the cluster's data go
#                           (test/matrix/run.sh's bench step: on disk, not
#                           its chroot's tmpfs /tmp)
set -euo pipefail
unset CDPATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

MESSAGES=${1:-1000000}
case $MESSAGES in '' | *[!0-9]* | 0) echo "usage: bench/e2e/run.sh [MESSAGES]" >&2; exit 2 ;; esac
PARTITIONS=${E2E_PARTITIONS:-4}
OFF_PAIRS=${E2E_OFF_PAIRS:-1}
ON_PAIRS=${E2E_ON_PAIRS:-2}
ON_MESSAGES=${E2E_ON_MESSAGES:-all}
ON_REQUESTED=$ON_MESSAGES
[[ $ON_MESSAGES == all ]] && ON_MESSAGES=$MESSAGES
case $ON_MESSAGES in '' | *[!0-9]* | 0) echo "E2E_ON_MESSAGES: a number or all" >&2; exit 2 ;; esac
BATCH=${E2E_BATCH:-100}
PARALLELISM=${E2E_PARALLELISM:-1}
EXTRA=${E2E_EXTRA:-}
WARMUP=${E2E_WARMUP:-1}
BASELINES=${E2E_BASELINES-jq sql setbased}
for b in $BASELINES; do
	case $b in jq | sql | setbased) ;; *) echo "E2E_BASELINES: \"$b\" is not jq, sql or setbased" >&2; exit 2 ;; esac
done
PERF_MODES=${E2E_PERF:-}
PERF_NOW=0
FSYNC=${E2E_FSYNC:-1}
MAX_LOAD=${E2E_MAX_LOAD:-0.5}
LOAD_WAIT=${E2E_LOAD_WAIT:-120}
PG_PORT=${E2E_PG_PORT:-55700}
RUN_TIMEOUT=${E2E_TIMEOUT:-1800}
PGBIN=${PGBIN:-$("${PG_CONFIG:-pg_config}" --bindir)}
export RAIL_STREAM_CACHE=${RAIL_STREAM_CACHE:-$ROOT/.cache}
KAFKA_SH=$ROOT/test/kafka/kafka.sh

run_id=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$HERE/out/$run_id
mkdir -p "$OUT/samples"
RESULTS=$OUT/results.csv
CONTEXT=$OUT/context.txt
T_SCRIPT=$EPOCHREALTIME

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { log "error: $*"; exit 1; }
# seconds between two $EPOCHREALTIME values, 3 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

for tool in kcat jq psql java /usr/bin/time python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rail_stream_e2e.XXXXXX")
chmod 755 "$WORK"

# Stop what this script started, keep the logs, remove the temp dir.
COPROC_PID=
SAMPLER_PID=
PERF_PID=
PG_PRIVATE=$WORK/pgcopy
PG_PRIVATE_BIN=$PG_PRIVATE/bin
cleanup() {
	local rc=$?
	set +e
	[[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
	[[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null
	if [[ -n $COPROC_PID ]]; then
		exec {POLL_IN}>&- {POLL_OUT}<&-
		kill "$COPROC_PID" 2>/dev/null
	fi
	[[ -d $WORK/pg ]] && PGBIN=$PG_PRIVATE_BIN "$ROOT/test/pg_tmp.sh" stop "$WORK/pg"
	[[ -f $WORK/pg/server.log ]] && cp "$WORK/pg/server.log" "$OUT/server.log"
	[[ -d $WORK/kafka ]] && "$KAFKA_SH" stop "$WORK/kafka" 2>>"$OUT/run.log"
	[[ -f $WORK/kafka/kafka.log ]] && tail -n 200 "$WORK/kafka/kafka.log" >"$OUT/kafka.log"
	if [[ ${E2E_KEEP_DATA:-0} == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Build and install ---------------------------------------------------------
# A clean build of the working tree's sources in a private copy: PGXS does not
# track header dependencies, and others rebuild the shared tree meanwhile, so
# its objects may mix two versions of a header.  Installs as "make install".
if [[ ${E2E_NO_BUILD:-0} != 1 ]]; then
	log "building (clean copy of the working tree) and installing rail_stream"
	mkdir -p "$WORK/build"
	tar -c --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
		Makefile rail_stream.control src sql | tar -x -C "$WORK/build"
	# the install script is assembled from sql/*.sql parts: assemble it anew
	rm -f "$WORK/build/sql/rail_stream--$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" rail_stream.control).sql"
	{ make -C "$WORK/build" -s PG_CONFIG="$PGBIN/pg_config" &&
		make -C "$WORK/build" -s PG_CONFIG="$PGBIN/pg_config" install; } >"$OUT/build.log" 2>&1 ||
		{ tail -n 30 "$OUT/build.log" >&2; die "build failed (see $OUT/build.log)"; }
	# what was built: HEAD plus the uncommitted changes to the sources
	BUILD_DIFF=$(git diff HEAD -- Makefile rail_stream.control src sql | md5sum | cut -c1-12)
	BUILT_SO=$WORK/build/rail_stream.so
else
	BUILT_SO=$("$PGBIN/pg_config" --pkglibdir)/rail_stream.so
fi

# The server runs from a private copy of PostgreSQL's bin/ and lib/ holding
# this build's rail_stream.so.  PostgreSQL finds $libdir relative to its
# binary, so "$libdir/rail_stream" is this copy: "make install" overwrites
# the shared .so in place (same inode), and another session's install in
# the middle of a run would otherwise change the code under the running
# server (it did: workers crashed with SIGSEGV).  The extension's SQL and
# control files are still read from the shared share/ directory.
#
# The copy keeps the paths of bin/, lib/ and share/ below $PG_PRIVATE, with
# share/ a symbolic link to PGBIN's: PostgreSQL finds share/ relative to its
# binary only where the layout is the one it was built with, and otherwise
# falls back to the built-in path.  A bare bin/ + lib/ copy of a copy made
# by test/pg_tmp.sh copy read the extension's SQL from /usr/share, that is
# from whatever was last installed there, not this build's.
PG_SRC_BIN=$(cd "$PGBIN" && pwd -P)
PG_SRC_LIB=$("$PGBIN/pg_config" --pkglibdir)
PG_SRC_SHARE=$("$PGBIN/pg_config" --sharedir)
PG_PRIVATE_BIN=$PG_PRIVATE$PG_SRC_BIN
mkdir -p "$PG_PRIVATE$PG_SRC_LIB" "$(dirname "$PG_PRIVATE_BIN")" "$(dirname "$PG_PRIVATE$PG_SRC_SHARE")"
cp -a "$PG_SRC_BIN" "$PG_PRIVATE_BIN"
cp -a "$PG_SRC_LIB"/*.so "$PG_PRIVATE$PG_SRC_LIB/"
cp "$BUILT_SO" "$PG_PRIVATE$PG_SRC_LIB/rail_stream.so"
ln -s "$PG_SRC_SHARE" "$PG_PRIVATE$PG_SRC_SHARE"
[[ $("$PG_PRIVATE_BIN/pg_config" --pkglibdir) == "$PG_PRIVATE$PG_SRC_LIB" ]] ||
	die "the private PostgreSQL copy does not use its own lib/"
[[ $("$PG_PRIVATE_BIN/pg_config" --sharedir) == "$PG_PRIVATE$PG_SRC_SHARE" ]] ||
	die "the private PostgreSQL copy does not use PGBIN's share/ ($PG_SRC_SHARE)"

# 2. Workload ----------------------------------------------------------------
# Cached per size and partition count; regenerated when either generator
# changes.  gen_trust.py's raw output goes to the temp dir and is deleted.
DATA=$HERE/out/data/trust_${MESSAGES}_p$PARTITIONS
stamp=$(cat bench/gen_trust.py "$HERE/make_partitions.py" | md5sum | cut -c1-12)
if [[ ! -f $DATA/meta.sh || $(cat "$DATA/stamp" 2>/dev/null) != "$stamp" ]]; then
	log "generating $MESSAGES messages -> ${DATA#"$ROOT"/}"
	rm -rf "$DATA"
	python3 bench/gen_trust.py "$MESSAGES" --out "$WORK/gen.ndjson" 2>"$OUT/gen.log"
	python3 "$HERE/make_partitions.py" "$WORK/gen.ndjson" "$DATA" "$PARTITIONS" >>"$OUT/gen.log"
	rm -f "$WORK/gen.ndjson"
	cp "$OUT/gen.log" "$DATA/gen.log"
	echo "$stamp" >"$DATA/stamp"
else
	log "reusing ${DATA#"$ROOT"/}"
	cp "$DATA/gen.log" "$OUT/gen.log"
fi
cat "$OUT/gen.log" >&2
# shellcheck source=/dev/null
. "$DATA/meta.sh"   # E2E_MESSAGES E2E_ROWS E2E_FRAMES E2E_BYTES E2E_PARTITION_FRAMES
[[ $E2E_MESSAGES == "$MESSAGES" ]] || die "data has $E2E_MESSAGES messages, expected $MESSAGES"

# 3. Broker, server, topics ---------------------------------------------------

log "starting Kafka in $WORK/kafka"
BOOTSTRAP=$("$KAFKA_SH" start "$WORK/kafka" 2>>"$OUT/run.log")
log "broker at $BOOTSTRAP"

# jit off: JIT compilation is a per-query cost that would hit one side and
# not the other.  max_wal_size 8GB: no forced checkpoint inside a run (they
# are counted per run anyway).  fsync and synchronous_commit stay on.
export PG_EXTRA_CONF="shared_preload_libraries = 'rail_stream'
rail_stream.brokers = '$BOOTSTRAP'
max_worker_processes = 16
jit = off
max_wal_size = '8GB'
${E2E_PG_CONF:-}"
eval "$(PGBIN=$PG_PRIVATE_BIN "$ROOT/test/pg_tmp.sh" start "$WORK/pg" "$PG_PORT")"
export PGHOST PGPORT PGUSER PGDATABASE
log "PostgreSQL on port $PGPORT"

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -c "$1"; }

"${PSQL[@]}" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION rail_stream;
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)
SQL
q "VACUUM (ANALYZE) rail.locations" >/dev/null
# the extension's SQL came from the shared share/ directory: was it this build's?
EXT_SQL=$(ls "$("$PG_PRIVATE_BIN/pg_config" --sharedir)"/extension/rail_stream--"$(q "SELECT extversion FROM pg_extension WHERE extname = 'rail_stream'")".sql)
if [[ -f $WORK/build/sql/$(basename "$EXT_SQL") ]] &&
	! cmp -s "$EXT_SQL" "$WORK/build/sql/$(basename "$EXT_SQL")"; then
	log "WARNING: the installed $(basename "$EXT_SQL") is not this build's (someone installed since)"
	EXT_SQL_NOTE="installed extension SQL differs from this build's"
fi

# end offsets as Kafka reports them: "p:offset p:offset ..."
end_offsets() {
	"$KAFKA_SH" offsets "$BOOTSTRAP" "$1" 2>>"$OUT/run.log" |
		awk -F: '/^.*:[0-9]+:[0-9]+$/ { printf "%s%s:%s", sep, $(NF-1), $NF; sep = " " }'
}

# The full topic: every partition file, produced once.
TOPIC=trust_e2e
log "creating topic $TOPIC ($PARTITIONS partitions), producing $E2E_FRAMES Kafka messages"
"$KAFKA_SH" create-topic "$BOOTSTRAP" "$TOPIC" "$PARTITIONS" >>"$OUT/run.log" 2>&1
t0=$EPOCHREALTIME
for ((p = 0; p < PARTITIONS; p++)); do
	kcat -P -b "$BOOTSTRAP" -t "$TOPIC" -p "$p" -X linger.ms=50 -l "$DATA/p$p.ndjson"
done
PRODUCE_S=$(elapsed "$t0" "$EPOCHREALTIME")
END_OFFSETS=$(end_offsets "$TOPIC")
total=0
for po in $END_OFFSETS; do total=$((total + ${po#*:})); done
[[ $total == "$E2E_FRAMES" ]] || die "topic holds $total Kafka messages, expected $E2E_FRAMES ($END_OFFSETS)"
log "produced in $PRODUCE_S s; end offsets $END_OFFSETS"

# make_subset TOPIC MESSAGES: a topic holding the first ~MESSAGES train
# messages of the data, the same share of every partition; sets
# SUB_MESSAGES (exact), SUB_ROWS (distinct keys) and SUB_ENDS (end offsets).
read -r -a frames_per_part <<<"$E2E_PARTITION_FRAMES"
make_subset() {
	local topic=$1 want=$2 p lines
	"$KAFKA_SH" create-topic "$BOOTSTRAP" "$topic" "$PARTITIONS" >>"$OUT/run.log" 2>&1
	for ((p = 0; p < PARTITIONS; p++)); do
		lines=$(((frames_per_part[p] * want + MESSAGES - 1) / MESSAGES))
		head -n "$lines" "$DATA/p$p.ndjson" >"$WORK/$topic.p$p.ndjson"
		kcat -P -b "$BOOTSTRAP" -t "$topic" -p "$p" -X linger.ms=50 -l "$WORK/$topic.p$p.ndjson"
	done
	cat "$WORK/$topic".p*.ndjson |
		jq -r '.text|fromjson[]|.body|[.train_id, .planned_event_type, .loc_stanox]|@tsv' \
			>"$WORK/$topic.keys"
	SUB_MESSAGES=$(wc -l <"$WORK/$topic.keys")
	SUB_ROWS=$(sort -u "$WORK/$topic.keys" | wc -l)
	SUB_ENDS=$(end_offsets "$topic")
	rm -f "$WORK/$topic".*
}

# warm-up topic: the first 1/20
if [[ $WARMUP == 1 ]]; then
	WARM_TOPIC=trust_e2e_warm
	make_subset "$WARM_TOPIC" $((MESSAGES / 20 + 1))
	WARM_MESSAGES=$SUB_MESSAGES WARM_ROWS=$SUB_ROWS WARM_ENDS=$SUB_ENDS
	log "warm-up topic $WARM_TOPIC: $WARM_MESSAGES messages, $WARM_ROWS keys"
fi
# triggers-on topic: the whole data, or its first ON_MESSAGES
if ((ON_MESSAGES >= MESSAGES)); then
	ON_TOPIC=$TOPIC ON_MESSAGES=$MESSAGES ON_ROWS=$E2E_ROWS ON_ENDS=$END_OFFSETS
else
	ON_TOPIC=trust_e2e_on
	make_subset "$ON_TOPIC" "$ON_MESSAGES"
	ON_MESSAGES=$SUB_MESSAGES ON_ROWS=$SUB_ROWS ON_ENDS=$SUB_ENDS
	log "triggers-on topic $ON_TOPIC: $ON_MESSAGES messages, $ON_ROWS keys"
fi

# 4. Context ------------------------------------------------------------------
SO=$PG_PRIVATE$PG_SRC_LIB/rail_stream.so
SO_MD5=$(md5sum "$SO" | cut -c1-12)
{
	echo "run: $run_id"
	echo "command: bench/e2e/run.sh $MESSAGES"
	echo "settings: E2E_PARTITIONS=$PARTITIONS E2E_OFF_PAIRS=$OFF_PAIRS E2E_ON_PAIRS=$ON_PAIRS E2E_ON_MESSAGES=$ON_REQUESTED E2E_BATCH=$BATCH E2E_PARALLELISM=$PARALLELISM E2E_EXTRA='$EXTRA' E2E_WARMUP=$WARMUP E2E_BASELINES='$BASELINES'"
	echo "workload: $(grep '^gen_trust' "$OUT/gen.log" | sed 's/^gen_trust: //')"
	echo "kafka_messages: $E2E_FRAMES in $PARTITIONS partitions ($E2E_PARTITION_FRAMES), $((E2E_BYTES / 1000000)) MB, keyed by crc32(train_id); produced in $PRODUCE_S s"
	echo "expected_rows: $E2E_ROWS"
	echo "git: $(git rev-parse --short HEAD) ($(git status --porcelain -- src sql Makefile rail_stream.control | wc -l) modified/untracked files in src/, sql/, Makefile${BUILD_DIFF:+; built with them, diff md5 $BUILD_DIFF})"
	echo "postgres: $(q 'SELECT version()')"
	echo "kafka: $(basename "$(ls -d "$RAIL_STREAM_CACHE"/kafka-* | head -n1)") (KRaft, single node, loopback)"
	echo "kcat: $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1 (librdkafka \2)/p')"
	echo "jq: $(jq --version)"
	echo "worker librdkafka: $(ldd "$SO" | awk '/rdkafka/ { print $3 }' | xargs -r readlink -f | xargs -r basename)"
	echo "worker librdkafka settings: queued.max.messages.kbytes=$(q "SHOW rail_stream.queue_kbytes") (rail_stream.queue_kbytes), fetch.max.bytes and max.partition.fetch.bytes at librdkafka defaults (52428800, 1048576)"
	echo "host: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "rail_stream.so: md5 $SO_MD5 (private copy, see above)${EXT_SQL_NOTE:+; WARNING: $EXT_SQL_NOTE}"
	echo "perf: $(perf --version 2>/dev/null || echo none)"
	echo "config (non-default): $(q "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name)
	                                 FROM pg_settings
	                                 WHERE source NOT IN ('default', 'override', 'client')
	                                   AND name NOT IN ('unix_socket_directories', 'port', 'rail_stream.brokers')")"
	echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$CONTEXT"
if [[ $FSYNC == 1 ]]; then
	log "pg_test_fsync (about 20 s)"
	"$PGBIN/pg_test_fsync" -s 1 -f "$WORK/fsync.tmp" >"$OUT/pg_test_fsync.txt" 2>&1 || true
	echo "fdatasync: $(awk '$1 == "fdatasync" { print $(NF-1), $NF; exit }' "$OUT/pg_test_fsync.txt") (one 8kB write)" >>"$CONTEXT"
fi

# 5. Measurement helpers ------------------------------------------------------

# One psql session kept open for polling, so that the 100 ms poll loop does
# not fork a psql (and a backend) ten times a second.  Every statement sent
# must return exactly one line.
coproc POLL_PSQL { psql -X -q -At 2>>"$OUT/poll.err"; }
COPROC_PID=$POLL_PSQL_PID
exec {POLL_IN}>&"${POLL_PSQL[1]}" {POLL_OUT}<&"${POLL_PSQL[0]}"
pq() {
	printf '%s\n' "$1" >&"$POLL_IN"
	IFS= read -r -t 60 REPLY <&"$POLL_OUT" ||
		die "no answer from the polling session (see $OUT/poll.err) to: $1"
}
pq "SET application_name = 'e2e_poll'; SELECT 1;"
[[ $REPLY == 1 ]] || die "polling session: $REPLY"

# RssAnon, VmHWM (kB) and utime+stime (clock ticks) of a pid, or failure.
# Bash builtins only: no fork in the sampling loops.
proc_sample() {
	local pid=$1 key val _ anon='' hwm='' f
	[[ -r /proc/$pid/status ]] || return 1
	while read -r key val _; do
		case $key in
			RssAnon:) anon=$val ;;
			VmHWM:) hwm=$val ;;
		esac
	done <"/proc/$pid/status" 2>/dev/null || return 1
	read -r -a f <"/proc/$pid/stat" 2>/dev/null || return 1
	[[ -n $anon ]] || return 1
	echo "$anon $hwm $((f[13] + f[14]))"
}
CLK_TCK=$(getconf CLK_TCK)

# "cpu_ns runqueue_ns" of a process's main thread (/proc/<pid>/schedstat:
# time on a CPU, time runnable but waiting for one), or failure.  What is
# left of the run's time is the time the worker's main thread slept: waiting
# for messages, for a fsync, for a lock.  Unlike msgs/s, that does not grow
# when others load the machine.
sched_sample() {
	local a b _
	read -r a b _ <"/proc/$1/schedstat" 2>/dev/null || return 1
	echo "$a $b"
}

# Fresh target before each run: empty tables, a checkpoint, buffers synced.
fresh_target() {
	q "TRUNCATE rail.movements, rail.daily_movement_counts, rail_stream.dead_letters" >/dev/null
	q "CHECKPOINT" >/dev/null
	sync
}
wal_lsn() { q "SELECT pg_current_wal_lsn()"; }
# requested checkpoints: pg_stat_checkpointer's from PostgreSQL 17 on
if (($(q "SHOW server_version_num") >= 170000)); then
	ckpt_req() { q "SELECT num_requested FROM pg_stat_checkpointer"; }
else
	ckpt_req() { q "SELECT checkpoints_req FROM pg_stat_bgwriter"; }
fi

# After a run: CSV fields rows,dead,md5_key,md5_full,md5_counts,counted
check_run() {
	local rows dead mkey mfull mcounts counted
	IFS='|' read -r rows dead mkey mfull mcounts counted < <("${PSQL[@]}" -f "$ROOT/bench/sql/check.sql")
	echo "$rows,$dead,${mkey:0:8},${mfull:0:8},${mcounts:0:8},$counted"
}

# Background sampler of the baseline's backend (found by application_name):
# writes "rss_anon_peak vmhwm cpu_ticks" to $1 every 100 ms, peak so far.
baseline_sampler() {
	local out=$1 pid='' s anon hwm cpu peak=0
	while :; do
		if [[ -z $pid ]]; then
			pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'e2e_baseline'" 2>/dev/null | head -n1)
		fi
		if [[ -n $pid ]] && s=$(proc_sample "$pid"); then
			read -r anon hwm cpu <<<"$s"
			((anon > peak)) && peak=$anon
			echo "$peak $hwm $cpu" >"$out.tmp" && mv "$out.tmp" "$out"
		fi
		sleep 0.1
	done
}

# "%e %U %S %M" files of /usr/bin/time: summed user+sys seconds, max RSS kB
client_usage() {
	awk '{ cpu += $2 + $3; if ($4 > rss) rss = $4 } END { printf "%.2f,%d", cpu, rss }' "$@"
}

RESULTS_HEADER="measure,phase,pair,variant,batch_size,parallelism,triggers,messages,expected_rows,seconds,msgs_per_s,phase1_s,rows,dead,md5_key,md5_full,md5_counts,counted,server_cpu_s,server_rss_anon_peak_kb,server_vmhwm_kb,client_cpu_s,client_maxrss_kb,ckpt_req,wal_mb,load1,server_errors,main_cpu_s,main_runq_s,main_sleep_s"
echo "$RESULTS_HEADER" >"$RESULTS"

# run_baseline KIND TOPIC MESSAGES: sets FIELDS, the CSV fields from
# "seconds" to "wal_mb" (batch_size and parallelism do not apply).  KIND:
#   jq        kcat | jq -c '.text|fromjson[]' | psql: one train message per
#             staging row (jsonb), then baseline.sql;
#   sql       kcat | psql: one Kafka message (frame) per staging row (text),
#             then baseline_sql.sql explodes the frames in the server;
#   setbased  as sql, then baseline_setbased.sql: triggers disabled in its
#             transaction, enrichment as joins and the daily counts in the
#             same statement (triggers-on runs only).
# Not run in a subshell, so that cleanup() can stop the sampler if anything
# fails.
run_baseline() {
	local kind=$1 topic=$2 msgs=$3 w=$WORK/baseline t0 t1 s secs copy_end phase1
	local anon=0 hwm=0 cpu=0 c0 l0 fields
	rm -rf "$w" && mkdir -p "$w"
	c0=$(ckpt_req)
	l0=$(wal_lsn)
	baseline_sampler "$w/backend" &
	SAMPLER_PID=$!
	t0=$EPOCHREALTIME
	if [[ $kind == jq ]]; then
		/usr/bin/time -f '%e %U %S %M' -o "$w/kcat.time" \
			kcat -C -b "$BOOTSTRAP" -t "$topic" -o beginning -e -q |
			/usr/bin/time -f '%e %U %S %M' -o "$w/jq.time" jq -c '.text|fromjson[]' |
			PGAPPNAME=e2e_baseline /usr/bin/time -f '%e %U %S %M' -o "$w/psql.time" \
				"${PSQL[@]}" \
				-c "CREATE TEMP TABLE staging (id bigserial, doc jsonb NOT NULL)" \
				-c "\\copy staging (doc) FROM pstdin WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')" \
				-c "SELECT extract(epoch FROM clock_timestamp())" \
				-f "$HERE/baseline.sql" >"$w/psql.out"
	else
		# one line per Kafka message, the envelope as text: the CSV trick
		# (quote and delimiter characters JSON never holds unescaped) keeps
		# every byte of the line
		/usr/bin/time -f '%e %U %S %M' -o "$w/kcat.time" \
			kcat -C -b "$BOOTSTRAP" -t "$topic" -o beginning -e -q |
			PGAPPNAME=e2e_baseline /usr/bin/time -f '%e %U %S %M' -o "$w/psql.time" \
				"${PSQL[@]}" \
				-c "CREATE TEMP TABLE staging (id bigserial, frame text NOT NULL)" \
				-c "\\copy staging (frame) FROM pstdin WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')" \
				-c "SELECT extract(epoch FROM clock_timestamp())" \
				-f "$HERE/baseline_$kind.sql" >"$w/psql.out"
	fi
	t1=$EPOCHREALTIME
	kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=
	secs=$(elapsed "$t0" "$t1")
	copy_end=$(head -n1 "$w/psql.out")
	phase1=$(elapsed "$t0" "$copy_end")
	[[ -f $w/backend ]] && read -r anon hwm cpu <"$w/backend"
	fields="$secs,$(awk -v m="$msgs" -v s="$secs" 'BEGIN { printf "%.0f", m / s }'),$phase1"
	fields+=",$(check_run)"
	fields+=",$(awk -v c="$cpu" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", c / t }'),$anon,$hwm"
	fields+=",$(client_usage "$w"/*.time)"
	fields+=",$(($(ckpt_req) - c0)),$(q "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$l0') / 1e6)")"
	FIELDS=$fields
}

# run_rail_stream TOPIC MESSAGES ROWS BATCH PARALLELISM "END_OFFSETS" TAG
# sets FIELDS, the CSV fields from "seconds" to "wal_mb"
run_rail_stream() {
	local topic=$1 msgs=$2 rows=$3 batch=$4 par=$5 ends=$6 tag=$7
	local name="e2e_${run_id}_$tag" values='' po t0 now secs first='' parts pids committed
	local samples=$OUT/samples/$tag.csv c0 l0 pid s anon hwm cpu fields
	local -A peak_anon=() last_hwm=() last_cpu=() last_sched=()
	name=${name//[^A-Za-z0-9_.-]/_}
	for po in $ends; do values+="${values:+,}(${po%%:*},${po#*:})"; done
	c0=$(ckpt_req)
	l0=$(wal_lsn)
	echo "t,partitions_done,committed,pids,rss_anon_kb,vmhwm_kb,cpu_ticks" >"$samples"
	pq "SELECT rail_stream.create_subscription('$name', '$topic', 'trust', NULL,
	        '{\"start\": \"earliest\", \"batch_size\": $batch, \"parallelism\": $par}');"
	[[ $REPLY =~ ^[0-9]+$ ]] || die "create_subscription: $REPLY"
	t0=$EPOCHREALTIME   # autocommit: the reply came after the commit
	while :; do
		pq "SELECT count(*) FILTER (WHERE s.lag = 0 AND s.committed_offset = e.end_offset)
		           || '|' || coalesce(sum(s.committed_offset), 0)
		           || '|' || coalesce(string_agg(DISTINCT s.pid::text, ' '), '')
		    FROM rail_stream.subscription_status s
		    LEFT JOIN (VALUES $values) e(partition, end_offset) USING (partition)
		    WHERE s.subscription = '$name';"
		now=$EPOCHREALTIME
		IFS='|' read -r parts committed pids <<<"$REPLY"
		[[ $parts =~ ^[0-9]+$ ]] || die "status poll: $REPLY"
		# profile the first worker seen, if asked (E2E_PERF)
		if [[ $PERF_NOW == 1 && -z $PERF_PID && -n $pids ]]; then
			perf record -e cpu-clock -F 499 -p "${pids%% *}" -o "$OUT/perf_$tag.data" \
				2>>"$OUT/perf.log" >&2 &
			PERF_PID=$!
		fi
		# sample every worker of the subscription (several with parallelism)
		for pid in $pids; do
			if s=$(proc_sample "$pid"); then
				read -r anon hwm cpu <<<"$s"
				((anon > ${peak_anon[$pid]:-0})) && peak_anon[$pid]=$anon
				last_hwm[$pid]=$hwm
				last_cpu[$pid]=$cpu
				echo "$(elapsed "$t0" "$now"),$parts,$committed,$pid,$anon,$hwm,$cpu" >>"$samples"
			fi
			s=$(sched_sample "$pid") && last_sched[$pid]=$s
		done
		[[ -z $first && $committed -gt 0 ]] && first=$(elapsed "$t0" "$now")
		if ((parts == PARTITIONS)); then
			pq "SELECT count(*) FROM rail.movements;"
			[[ $REPLY == "$rows" ]] && break
			log "offsets at the end but $REPLY rows, expected $rows"
		fi
		awk -v a="$t0" -v b="$now" -v m="$RUN_TIMEOUT" 'BEGIN { exit !(b - a > m) }' &&
			die "rail_stream run $tag did not finish in $RUN_TIMEOUT s ($REPLY)"
		sleep 0.1
	done
	secs=$(elapsed "$t0" "$now")
	# final sample: VmHWM is the kernel's own peak; RssAnon is the sampled peak
	for pid in $pids; do
		if s=$(proc_sample "$pid"); then
			read -r anon hwm cpu <<<"$s"
			((anon > ${peak_anon[$pid]:-0})) && peak_anon[$pid]=$anon
			last_hwm[$pid]=$hwm
			last_cpu[$pid]=$cpu
		fi
		s=$(sched_sample "$pid") && last_sched[$pid]=$s
	done
	if [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=
		perf report -i "$OUT/perf_$tag.data" --stdio --no-children --sort dso,symbol 2>>"$OUT/perf.log" |
			grep -v '^#' | grep -v '^$' | head -n 60 >"$OUT/perf_$tag.txt" || true
		perf report -i "$OUT/perf_$tag.data" --stdio --no-children --sort dso 2>>"$OUT/perf.log" |
			grep -v '^#' | grep -v '^$' | head -n 15 >"$OUT/perf_${tag}_dso.txt" || true
	fi
	pq "SELECT rail_stream.drop_subscription('$name');"
	fields="$secs,$(awk -v m="$msgs" -v s="$secs" 'BEGIN { printf "%.0f", m / s }'),${first:-}"
	fields+=",$(check_run)"
	# CPU summed over the workers; RSS: the largest worker's
	cpu=0 anon=0 hwm=0
	for pid in "${!last_cpu[@]}"; do
		cpu=$((cpu + last_cpu[$pid]))
		((peak_anon[$pid] > anon)) && anon=${peak_anon[$pid]}
		((last_hwm[$pid] > hwm)) && hwm=${last_hwm[$pid]}
	done
	fields+=",$(awk -v c="$cpu" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", c / t }'),$anon,$hwm,,"
	fields+=",$(($(ckpt_req) - c0)),$(q "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$l0') / 1e6)")"
	# main threads' CPU, run-queue wait and sleep, summed over the workers
	# (sleep: the run's seconds times the workers, less the other two)
	SCHED_FIELDS=$(printf '%s\n' "${last_sched[@]}" |
		awk -v secs="$secs" -v n="${#last_sched[@]}" '
			NF == 2 { c += $1; r += $2 }
			END { if (n) printf "%.2f,%.2f,%.2f", c / 1e9, r / 1e9, secs * n - (c + r) / 1e9; else printf ",," }')
	# wait for the workers to go, so that the next run starts alone
	for pid in "${!last_cpu[@]}"; do
		for _ in {1..300}; do
			[[ -e /proc/$pid ]] && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
			sleep 0.1
		done
	done
	FIELDS=$fields
}

# The results' variant of each baseline kind, and back: "baseline" is jq's,
# as in the results of earlier runs.
baseline_variant() { [[ $1 == jq ]] && echo baseline || echo "baseline_$1"; }
baseline_kind() { [[ $1 == baseline ]] && echo jq || echo "${1#baseline_}"; }

# measure PHASE PAIR VARIANT TOPIC MESSAGES ROWS ENDS TRIGGERS [BATCH PAR]
# One run on a fresh target, with the user triggers of rail.movements on or
# off as TRIGGERS says (baseline_setbased turns them off itself, inside its
# transaction); appends a line to results.csv.
MEASURE=
measure() {
	local phase=$1 pair=$2 variant=$3 topic=$4 msgs=$5 rows=$6 ends=$7 trig=$8
	local batch=${9:-} par=${10:-} l fields tag log0 errors
	if [[ $trig == on ]]; then
		q "ALTER TABLE rail.movements ENABLE TRIGGER USER" >/dev/null
	else
		q "ALTER TABLE rail.movements DISABLE TRIGGER USER" >/dev/null
	fi
	fresh_target
	sleep 2   # let the checkpoint's and the last run's stragglers settle
	l=$(load1)
	log0=$(wc -l <"$WORK/pg/server.log")
	tag="${MEASURE}_${phase}${pair}_${variant}_t${trig}${batch:+_b$batch}${par:+_p$par}"
	SCHED_FIELDS=,,
	if [[ $variant == baseline* ]]; then
		run_baseline "$(baseline_kind "$variant")" "$topic" "$msgs"
	else
		run_rail_stream "$topic" "$msgs" "$rows" "$batch" "$par" "$ends" "$tag"
	fi
	fields=$FIELDS
	# errors the server logged meanwhile (a worker's failed batch: it restarts)
	errors=$(tail -n +"$((log0 + 1))" "$WORK/pg/server.log" | grep -c 'ERROR:' || true)
	echo "$MEASURE,$phase,$pair,$variant,$batch,$par,$trig,$msgs,$rows,$fields,$l,$errors,$SCHED_FIELDS" >>"$RESULTS"
	log "$tag: ${fields%%,*} s ($(cut -d, -f2 <<<"$fields") msgs/s), rows/md5: $(cut -d, -f4-6 <<<"$fields"), server errors: $errors, main thread cpu/runq/sleep s: ${SCHED_FIELDS//,//}"
}

# 6. Measurements ---------------------------------------------------------------
waited=0
while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' && ((waited < LOAD_WAIT)); do
	((waited == 0)) && log "1-minute load $(load1) > $MAX_LOAD: waiting up to ${LOAD_WAIT}s"
	sleep 10
	waited=$((waited + 10))
done
if awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; then
	log "WARNING: measuring at load $(load1) (> $MAX_LOAD); paired ratios absorb most of it"
	echo "load_warning: measured at 1-minute load $(load1) > $MAX_LOAD" >>"$CONTEXT"
fi
echo "load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$CONTEXT"
echo "other_busy_processes_at_start: $(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s(%s%%)", sep, $2, $1; sep = " " }')" >>"$CONTEXT"

if [[ $WARMUP == 1 ]]; then
	MEASURE=warmup
	# triggers off: with them on, 1/20 of 1M takes minutes (see README)
	log "warm-up pair on $WARM_TOPIC ($WARM_MESSAGES messages), triggers off"
	for b in $BASELINES; do
		[[ $b == setbased ]] && continue   # triggers-on runs only
		measure warmup 0 "$(baseline_variant "$b")" "$WARM_TOPIC" "$WARM_MESSAGES" "$WARM_ROWS" "$WARM_ENDS" off
	done
	measure warmup 0 rail_stream "$WARM_TOPIC" "$WARM_MESSAGES" "$WARM_ROWS" "$WARM_ENDS" off "$BATCH" "$PARALLELISM"
fi

# Pairs (the baselines of E2E_BASELINES in order, then rail_stream), the two
# trigger modes alternating.
for ((p = 1; p <= ON_PAIRS || p <= OFF_PAIRS; p++)); do
	if ((p <= ON_PAIRS)); then
		MEASURE=triggers_on
		log "pair $p/$ON_PAIRS, triggers on (enrichment + daily counts), $ON_MESSAGES messages"
		for b in $BASELINES; do
			measure rep "$p" "$(baseline_variant "$b")" "$ON_TOPIC" "$ON_MESSAGES" "$ON_ROWS" "$ON_ENDS" on
		done
		measure rep "$p" rail_stream "$ON_TOPIC" "$ON_MESSAGES" "$ON_ROWS" "$ON_ENDS" on "$BATCH" "$PARALLELISM"
	fi
	if ((p <= OFF_PAIRS)); then
		MEASURE=triggers_off
		log "pair $p/$OFF_PAIRS, triggers off, $MESSAGES messages"
		for b in $BASELINES; do
			[[ $b == setbased ]] && continue   # triggers-on runs only
			measure rep "$p" "$(baseline_variant "$b")" "$TOPIC" "$MESSAGES" "$E2E_ROWS" "$END_OFFSETS" off
		done
		measure rep "$p" rail_stream "$TOPIC" "$MESSAGES" "$E2E_ROWS" "$END_OFFSETS" off "$BATCH" "$PARALLELISM"
	fi
done

# Other rail_stream configurations, one run each.
MEASURE=extra
for cfg in $EXTRA; do
	IFS=: read -r b par trig <<<"$cfg"
	trig=${trig:-off}
	if [[ $trig == on ]]; then
		log "extra rail_stream run: batch_size $b, parallelism $par, triggers on, $ON_MESSAGES messages"
		measure extra 1 rail_stream "$ON_TOPIC" "$ON_MESSAGES" "$ON_ROWS" "$ON_ENDS" on "$b" "$par"
	else
		log "extra rail_stream run: batch_size $b, parallelism $par, triggers off, $MESSAGES messages"
		measure extra 1 rail_stream "$TOPIC" "$MESSAGES" "$E2E_ROWS" "$END_OFFSETS" off "$b" "$par"
	fi
done

# Profiled rail_stream runs (perf record -F 499 on the worker; not timed
# for the summary: perf costs CPU on a 2-core machine).
PERF_NOW=0
MEASURE=perf
for trig in $PERF_MODES; do
	PERF_NOW=1
	log "profiled rail_stream run, triggers $trig (perf_*.txt)"
	if [[ $trig == on ]]; then
		measure perf 1 rail_stream "$ON_TOPIC" "$ON_MESSAGES" "$ON_ROWS" "$ON_ENDS" on "$BATCH" "$PARALLELISM"
	else
		measure perf 1 rail_stream "$TOPIC" "$MESSAGES" "$E2E_ROWS" "$END_OFFSETS" off "$BATCH" "$PARALLELISM"
	fi
	PERF_NOW=0
done
q "ALTER TABLE rail.movements ENABLE TRIGGER USER" >/dev/null

# 7. Summary ------------------------------------------------------------------
echo "total_runtime_s: $(elapsed "$T_SCRIPT" "$EPOCHREALTIME")" >>"$CONTEXT"
python3 "$HERE/summarize.py" "$OUT" | tee "$OUT/summary.txt"
ln -sfn "$run_id" "$HERE/out/latest"
log "results in ${OUT#"$ROOT"/}/ (bench/e2e/out/latest)"
