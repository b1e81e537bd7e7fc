#!/usr/bin/env bash
# The pg_regress suite (test/sql, expected/) against a rail_stream built with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   test/sanitize.sh        from any directory, as root (CI) or a normal user
#
# What it does, and why:
#
#  1. A private copy of the PostgreSQL that ${PG_CONFIG:-pg_config} names
#     (its bindir, pkglibdir, sharedir and include directories, each under
#     the same path inside a temporary prefix).  PostgreSQL's installation is
#     relocatable: the copy's pg_config reports the copy's paths, and its
#     server loads extensions from the copy.  The instrumented module is
#     installed there only, never into the system's PostgreSQL, which other
#     people and "make test" use: an ASan-built rail_stream.so cannot even be
#     loaded by a server without the sanitizer runtime.
#  2. The extension is built from a copy of this tree (Makefile, sources,
#     SQL, tests) in the same temporary directory, with
#     -fsanitize=address,undefined -fno-sanitize-recover=all: the working
#     tree's objects stay as they are, so a later "make install" cannot pick
#     up instrumented ones.  Every UBSan finding is fatal, as ASan's are.
#     No LLVM bitcode is built (with_llvm=no): JIT is off, see below.
#  3. A temporary server of the copy (test/pg_tmp.sh) with gcc's libasan
#     preloaded: PostgreSQL itself is not instrumented, so the runtime must
#     be the first library of the process for the module's instrumented code
#     to work.  Leak detection is off (the postmaster never frees what its
#     children inherit).  ASan writes its reports to files in a directory
#     checked below; UBSan writes to the server log, whatever its log_path,
#     when ASan is in the process.  JIT is off, so that no uninstrumented
#     bitcode replaces the module's functions.  test/sanitize/preload.c is
#     preloaded too: without it Debian's PostgreSQL programs hang at start
#     under libasan, and UBSan loses UBSAN_OPTIONS in backends (the file
#     says why).
#  4. pg_regress as "make installcheck" runs it, from the copy's pgxs.
#  5. Fails if a test fails, or if any sanitizer report appears (they are
#     printed), or if the sanitizer runtime was not in the server after all.
#     A report aborts its backend: the test that ran it fails, and so may
#     the next ones, which start while the server recovers from the crash.
#
# Closing line: "sanitize: N passed, N failed", counting the pg_regress
# tests and one more check, "no sanitizer report".  On failure the diffs,
# reports and server log are kept in tmp_check/sanitize/.
#
# What ASan cannot see here: memory from palloc is carved by PostgreSQL out
# of larger malloc'd blocks, so an overrun inside a memory context block is
# not detected (this includes the parsed JSON documents, which json.c
# pallocs); malloc'd memory (libcurl, librdkafka, the module's own), the
# module's stack and globals, and all of UBSan's checks are.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS

test/deps.sh

src_pg_config=${PG_CONFIG:-pg_config}
asan_lib=$(readlink -f "$(gcc -print-file-name=libasan.so)")
if [ ! -f "$asan_lib" ]; then
	echo "sanitize: gcc's AddressSanitizer runtime (libasan.so) is missing" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/rail_stream_sanitize.XXXXXX)
chmod 755 "$tmp"
server_started=
cleanup() {
	[ -n "$server_started" ] && stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A sanitizer report aborts its backend, and the postmaster then goes
# through crash recovery.  PostgreSQL 15 was seen never to finish a fast
# shutdown asked for during that recovery (the checkpointer is left
# running), so: wait, a minute at most, for the server to accept
# connections again, stop it as usual, and stop it the hard way if it is
# still there.
stop_server() {
	local i
	for i in $(seq 60); do
		"$pgbin/pg_isready" -q -h "$tmp/server" -p "$PGPORT" && break
		sleep 1
	done
	PGBIN=$pgbin test/pg_tmp.sh stop "$tmp/server"
	if [ -f "$tmp/server/data/postmaster.pid" ]; then
		test/pg_tmp.sh as-server-user "$pgbin/pg_ctl" -D "$tmp/server/data" -m immediate -w stop \
			>/dev/null || true
	fi
}

# 1. the private copy of PostgreSQL
pg_config=$(PG_CONFIG=$src_pg_config test/pg_tmp.sh copy "$tmp/pg")
pgbin=$("$pg_config" --bindir)

# 2. build and install the instrumented module into the copy
build=$tmp/build
mkdir -p "$build/test"
cp -a Makefile rail_stream.control src sql expected "$build/"
cp -a test/sql test/expected "$build/test/"
ln -s "$repo/data" "$build/data"	# the tests read samples with \set x `cat data/...`
sanitize_flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"
make -C "$build" -s PG_CONFIG="$pg_config" clean >/dev/null
make -C "$build" -s -j"$(nproc)" PG_CONFIG="$pg_config" with_llvm=no \
	PG_CFLAGS="$sanitize_flags"
make -C "$build" -s PG_CONFIG="$pg_config" with_llvm=no install >/dev/null
built=$SECONDS
module=$("$pg_config" --pkglibdir)/rail_stream.so
if ! readelf -d "$module" | grep -q 'NEEDED.*libasan' ||
	! readelf -d "$module" | grep -q 'NEEDED.*libubsan'; then
	echo "sanitize: $module is not linked with the sanitizer runtimes" >&2
	exit 1
fi

# 3. the server, with the sanitizer runtime preloaded
gcc -shared -fPIC -O1 -o "$tmp/preload.so" test/sanitize/preload.c
reports=$tmp/reports
mkdir -p "$reports"
[ "$(id -u)" -eq 0 ] && chown postgres: "$reports"
sanitizer_env=(
	LD_PRELOAD="$asan_lib:$tmp/preload.so"
	ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:disable_coredump=1:log_path=$reports/asan"
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:disable_coredump=1"
)
eval "$(env "${sanitizer_env[@]}" PGBIN="$pgbin" PG_EXTRA_CONF="jit = off" \
	test/pg_tmp.sh start "$tmp/server")"
server_started=1
postmaster_pid=$(head -1 "$tmp/server/data/postmaster.pid")
runtime_loaded=0
grep -q "/$(basename "$asan_lib")\$" "/proc/$postmaster_pid/maps" &&
	grep -q "$tmp/preload.so\$" "/proc/$postmaster_pid/maps" &&
	runtime_loaded=1

# 4. pg_regress, as "make installcheck"
status=0
make -C "$build" -s PG_CONFIG="$pg_config" installcheck >"$tmp/regress.log" 2>&1 ||
	status=$?
cat "$tmp/regress.log"
stop_server
server_started=

# 5. the verdict
# pg_regress says "name ... ok" up to PostgreSQL 15, "ok 1 - name" from 16
passed=$(grep -cE ' \.\.\. ok |^ok [0-9]+ ' "$tmp/regress.log" || true)
failed=$(grep -cE ' \.\.\. FAILED |^not ok [0-9]+ ' "$tmp/regress.log" || true)
[ $status -ne 0 ] && [ "$failed" -eq 0 ] && failed=1

found=0
for f in "$reports"/*; do
	[ -e "$f" ] || continue
	found=1
	echo "sanitizer report $(basename "$f"):"
	cat "$f"
done
# UBSan's reports go to stderr, that is the server log, whatever log_path
# says, when ASan is in the process too: there they are the lines that are
# not the server's own (which begin with a time stamp, or a tab when they
# go on).
grep -avE '^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ [A-Z]+ \[[0-9]+\]|	)' \
	"$tmp/server/server.log" >"$tmp/stderr.log" || true
if grep -aqE 'Sanitizer|runtime error:' "$tmp/stderr.log"; then
	found=1
	echo "sanitizer reports in the server log:"
	cat "$tmp/stderr.log"
fi
if [ $runtime_loaded -eq 0 ]; then
	echo "sanitize: the server ran without $asan_lib, so nothing was checked" >&2
	found=1
fi
if [ $found -eq 0 ]; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

if [ "$failed" -ne 0 ]; then
	keep=$repo/tmp_check/sanitize
	if rm -rf "$keep" 2>/dev/null && mkdir -p "$keep" 2>/dev/null; then
		cp -a "$reports" "$tmp/server/server.log" "$tmp/regress.log" "$keep/"
		[ -f "$build/regression.diffs" ] && cp "$build/regression.diffs" "$keep/"
		echo "the diffs, reports and server log are in tmp_check/sanitize" >&2
	fi
	[ -f "$build/regression.diffs" ] && cat "$build/regression.diffs"
fi
echo "run time: $((SECONDS - started)) s ($((built - started)) s to copy PostgreSQL and build)"
echo "sanitize: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
