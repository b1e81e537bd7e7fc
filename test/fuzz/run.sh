#!/usr/bin/env bash
# Fuzz the transforms of rail_stream with libFuzzer, for a bounded time,
# inside a real backend (see fuzz_driver.c for why and how).
#
#   test/fuzz/run.sh                      fuzz for FUZZ_SECONDS (default 60)
#   test/fuzz/run.sh FILE...              run these inputs once (reproduce)
#
# Everything is built under a temporary directory, removed at the end:
#   - a private copy of the PostgreSQL installation that PG_CONFIG names
#     (default: pg_config on the PATH), with rail_stream installed into it
#     ("make install" against the copy, never into the original);
#   - rail_stream_fuzz.so: clang-14 -fsanitize=address,undefined,
#     fuzzer-no-link builds of the transform sources, fuzz_driver.c and
#     libFuzzer (libclang_rt.fuzzer_no_main), linked -Bsymbolic;
#   - a cluster made by initdb, set up by one "postgres --single" session
#     (CREATE EXTENSION, the json: target tables) and fuzzed by another,
#     with the ASan runtime preloaded since the server is not instrumented.
# The seed corpus is test/fuzz/corpus (make_corpus.py builds it from data/),
# plus the reproducers in test/fuzz/crashes, which are also run one by one
# first: a reproducer committed there must not crash any more.  A finding is
# copied into test/fuzz/crashes and fails the run.
#
# Needs the Debian packages clang-14 and libclang-rt-14-dev (libFuzzer and
# the sanitizer runtimes), besides what "make" needs.  Ends with the line
# "fuzz: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
FUZZ=$ROOT/test/fuzz

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang-14}
PG_CONFIG=${PG_CONFIG:-pg_config}

passed=0
failed=0
finish() {
	echo "fuzz: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
die() {
	echo "fuzz: $*" >&2
	failed=$((failed + 1))
	finish
}

command -v "$CLANG" >/dev/null ||
	die "$CLANG is missing: apt-get install clang-14 libclang-rt-14-dev"
RTDIR=$("$CLANG" -print-runtime-dir 2>/dev/null)
[ -d "$RTDIR" ] || RTDIR=$(dirname "$("$CLANG" -print-file-name=libclang_rt.asan-x86_64.so)")
ASAN_RT=$RTDIR/libclang_rt.asan-x86_64.so
FUZZER_RT=$RTDIR/libclang_rt.fuzzer_no_main-x86_64.a
[ -f "$ASAN_RT" ] && [ -f "$FUZZER_RT" ] ||
	die "libFuzzer or the ASan runtime is missing: apt-get install libclang-rt-14-dev"

tmp=$(mktemp -d /tmp/rail_stream_fuzz.XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

as_server_user() { "$ROOT/test/pg_tmp.sh" as-server-user "$@"; }

# 1. A private copy of the PostgreSQL installation (test/pg_tmp.sh copy)
PGBIN=$(dirname "$(PG_CONFIG=$PG_CONFIG "$ROOT/test/pg_tmp.sh" copy "$tmp/pg")") ||
	die "could not copy the PostgreSQL of $PG_CONFIG"
make -s PG_CONFIG="$PGBIN/pg_config" install >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; die "make install into the private copy failed"; }

# 2. The fuzz library: the transforms under the sanitizers, with libFuzzer.
mkdir -p "$tmp/lib" "$tmp/obj"
SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=alignment,function -fno-sanitize-recover=undefined"
CFLAGS="-O1 -g -fPIC -fno-omit-frame-pointer -fno-strict-aliasing -Wall -Wno-unused-parameter $SAN"
INCLUDES="-I$ROOT/src -I$("$PGBIN/pg_config" --includedir-server) $(pkg-config --cflags libcurl avro-c)"
EXTVERSION=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" rail_stream.control)
objs=()
for f in src/json.c src/decode.c src/feed_time.c src/transform.c src/trust.c \
	src/cif.c src/generic.c src/row.c src/alert_body.c src/guc.c \
	src/avro_decode.c src/schema_registry.c src/http_client.c src/run_as.c \
	test/fuzz/fuzz_driver.c; do
	o=$tmp/obj/$(basename "$f" .c).o
	# shellcheck disable=SC2086
	"$CLANG" $CFLAGS $INCLUDES -DRS_EXTVERSION="\"$EXTVERSION\"" -c "$f" -o "$o" 2>>"$tmp/build.log" ||
		{ cat "$tmp/build.log"; die "compiling $f failed"; }
	objs+=("$o")
done
# shellcheck disable=SC2086
"$CLANG" -shared $SAN -o "$tmp/lib/rail_stream_fuzz.so" "${objs[@]}" "$FUZZER_RT" \
	$(pkg-config --libs libcurl avro-c) -lstdc++ -Wl,-Bsymbolic 2>>"$tmp/build.log" ||
	{ cat "$tmp/build.log"; die "linking rail_stream_fuzz.so failed"; }

# A shim that lets postgres start with the ASan runtime preloaded
"$CLANG" -shared -fPIC -O1 -o "$tmp/lib/asan_preinit.so" test/fuzz/asan_preinit.c -ldl \
	2>>"$tmp/build.log" || { cat "$tmp/build.log"; die "compiling asan_preinit.c failed"; }
PRELOAD="$ASAN_RT $tmp/lib/asan_preinit.so"

# A dictionary: JSON tokens and the names and codes the transforms look for
{
	printf '"%s"\n' '{' '}' '[' ']' ':' ',' '\"' '\\' '\\u' 'true' 'false' 'null' \
		'{{' '}}' '-0' '1e309' '9223372036854775807'
	grep -ohE '"[A-Za-z0-9_ ]{1,40}"' src/trust.c src/cif.c src/transform.c \
		src/generic.c src/decode.c src/feed_time.c | sort -u
} >"$tmp/rail.dict"

# 3. The cluster, set up once.  The server is not instrumented: every session
# preloads the ASan runtime, which the fuzz library needs to load at all.
ASAN_OPTS="detect_leaks=1:leak_check_at_exit=0:handle_abort=1:symbolize=1:detect_stack_use_after_return=0"
SYMBOLIZER=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[ -n "$SYMBOLIZER" ] || SYMBOLIZER=$(dirname "$(readlink -f "$(command -v "$CLANG")")")/llvm-symbolizer
mkdir "$tmp/data"
[ "$(id -u)" -eq 0 ] && chown postgres: "$tmp/data"
as_server_user "$PGBIN/initdb" -D "$tmp/data" -U postgres -A trust \
	--encoding=UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log"; die "initdb failed"; }
single() {
	local seconds=$1
	shift
	as_server_user timeout "$seconds" env "$@" "$PGBIN/postgres" --single \
		-D "$tmp/data" -c timezone=UTC -c fsync=off postgres
}
single 300 LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 >"$tmp/setup.log" 2>&1 <<SQL
CREATE EXTENSION rail_stream
CREATE SCHEMA rail_stream_fuzz
CREATE TABLE rail_stream_fuzz.events (id int PRIMARY KEY, name text, n numeric, at timestamptz, d date, flag boolean, doc jsonb, raw json, tags text[], big bigint, ratio float8, span interval, uid uuid, t time, ch varchar(8), c char(2), b bytea, "MixedCase" text)
CREATE TABLE rail_stream_fuzz.readings (site text, at timestamptz, value float8, PRIMARY KEY (site, at))
CREATE TABLE rail_stream_fuzz.log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body jsonb, seen timestamptz DEFAULT now(), note text)
CREATE FUNCTION rail_stream_fuzz.run(text[]) RETURNS int LANGUAGE c STRICT AS '$tmp/lib/rail_stream_fuzz', 'rs_fuzz_run'
SQL
echo "fuzz: built and set up in $SECONDS s"
if grep -q 'ERROR:' "$tmp/setup.log"; then
	cat "$tmp/setup.log"
	die "setting up the cluster failed"
fi

# 4. libFuzzer in the backend.  fuzz DIR-or-FILE... runs one session.
fuzz() {
	local log=$1 args=() a
	shift
	for a in "$@"; do
		args+=("'${a//\'/\'\'}'")
	done
	echo "SELECT rail_stream_fuzz.run(ARRAY[$(
		IFS=,
		echo "${args[*]}"
	)]::text[])" |
		single $((FUZZ_SECONDS + 300)) LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$ASAN_OPTS" \
			RAIL_STREAM_FUZZ_AVRO_SCHEMA="$tmp/lib/jms-envelope.avsc" \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			ASAN_SYMBOLIZER_PATH="$SYMBOLIZER" >"$log" 2>&1
}
# the Avro target's schema, where the server's user reads it
cp test/registry/jms-envelope.avsc "$tmp/lib/"
mkdir -p "$tmp/corpus" "$tmp/artifacts"
chmod 777 "$tmp/corpus" "$tmp/artifacts"
cp "$FUZZ"/corpus/* "$tmp/corpus/"
mkdir -p "$tmp/seeds"
COMMON=(-artifact_prefix="$tmp/artifacts/" -timeout=10 -rss_limit_mb=2048
	-malloc_limit_mb=1024 -max_len=65536 -dict="$tmp/rail.dict" -print_final_stats=1)

save_findings() {
	local f name
	for f in "$tmp"/artifacts/*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		cp "$f" "$FUZZ/crashes/$name"
		echo "fuzz: reproducer saved as test/fuzz/crashes/$name" >&2
	done
	rm -f "$tmp"/artifacts/*
}

report() {
	local log=$1
	# the sanitizer's or libFuzzer's report, without the status lines
	grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" | tail -n 80 >&2
}

# reproducers given on the command line, or those kept in crashes/
if [ $# -gt 0 ]; then
	repro=("$@")
else
	repro=()
	for f in "$FUZZ"/crashes/*; do
		[ -f "$f" ] && [ "$(basename "$f")" != README.md ] && repro+=("$f")
	done
fi
for f in "${repro[@]}"; do
	cp "$f" "$tmp/seeds/$(basename "$f")"
	chmod 644 "$tmp/seeds/$(basename "$f")"
	if fuzz "$tmp/repro.log" "${COMMON[@]}" "$tmp/seeds/$(basename "$f")"; then
		echo "ok - reproducer $(basename "$f") runs clean"
		passed=$((passed + 1))
	else
		echo "not ok - reproducer $(basename "$f") still fails"
		report "$tmp/repro.log"
		failed=$((failed + 1))
	fi
	rm -f "$tmp"/artifacts/*
done
[ $# -gt 0 ] && finish

start=$(date +%s)
fuzz "$tmp/fuzz.log" "${COMMON[@]}" -max_total_time="$FUZZ_SECONDS" \
	"$tmp/corpus" ${repro[@]+"$tmp/seeds"}
status=$?
elapsed=$(($(date +%s) - start))
stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$tmp/fuzz.log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log")
echo "fuzz: ${elapsed}s, ${execs:-?} inputs, seeds: $(grep -E '^#[0-9]+[[:space:]]+INITED' "$tmp/fuzz.log" | sed 's/^#[0-9]*[[:space:]]*//')"
echo "fuzz: last: ${stats:-none}"
if [ $status -eq 0 ] && grep -q '^Done [0-9]* runs' "$tmp/fuzz.log"; then
	echo "ok - fuzzed the transforms for ${FUZZ_SECONDS}s"
	passed=$((passed + 1))
else
	echo "not ok - fuzzing the transforms (exit status $status)"
	report "$tmp/fuzz.log"
	save_findings
	failed=$((failed + 1))
fi
finish
