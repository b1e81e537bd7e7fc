#!/usr/bin/env bash
# The version matrix: build and test rail_stream on other major versions of
# PostgreSQL than the host's, each in a Debian chroot of the release that
# packages it.
#
#   test/matrix/run.sh [VERSION ...]     default: 17 18
#
# Why chroots: Debian ships one PostgreSQL per release (12 "bookworm": 15,
# 13 "trixie": 17, unstable "sid": 18) and this machine reaches no other
# package source (no PGDG).  A chroot of the release, made with debootstrap,
# is the smallest thing that gives the server, its headers and libraries that
# match them; a container runtime is not needed.
#
# For each version:
#   1. the chroot $RAIL_STREAM_CHROOTS/pgNN is created (debootstrap, then
#      the packages of test/matrix/packages.sh), or reused as it is if its
#      package list did not change (MATRIX_UPDATE=1 upgrades it first);
#   2. a copy of this tree (tracked and untracked, not ignored, files) is
#      put into it, the Kafka and Artemis jars of $RAIL_STREAM_CACHE are bind-mounted
#      read-only;
#   3. test/matrix/inside.sh runs in the chroot, in its own mount and PID
#      namespaces (so that mounts, servers and brokers all go away with it):
#      build with that version's pg_config and -Werror, pg_regress on a
#      temporary cluster, the upgrade test, the TAP tests against a real
#      Kafka broker, and, when asked for, bench/e2e/run.sh (MATRIX_STEPS
#      selects steps: "regress upgrade tap bench");
#   4. one line: "pgNN: N passed, N failed".
# Exits non-zero if anything failed.  Logs of each version are kept in
# $RAIL_STREAM_CHROOTS/logs/pgNN.log.
#
# Environment:
#   RAIL_STREAM_CACHE    Kafka jars (fetched on the host first; default
#                        <repo>/.cache)
#   RAIL_STREAM_CHROOTS  chroots and logs (default $RAIL_STREAM_CACHE/chroots;
#                        about 2 GB per version, most of it the LLVM that
#                        postgresql-server-dev-NN needs for JIT bitcode)
#   DEBIAN_MIRROR        default http://deb.debian.org/debian
#   MATRIX_STEPS         default "regress upgrade tap"; "bench" runs the
#                        end-to-end benchmark (bench/e2e/run.sh) in the
#                        chroot, with the E2E_* variables of this
#                        environment and MATRIX_BENCH_MESSAGES (default
#                        200000); its results, and its cached data, are
#                        kept in $RAIL_STREAM_CHROOTS/bench/pgNN/
#   MATRIX_TAP_TESTS     TAP files to run (default test/t/*.pl)
#   MATRIX_UPDATE        1: apt-get upgrade a cached chroot before using it
# Needs root (debootstrap, chroot, mounts) and debootstrap itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(17 18)

export RAIL_STREAM_CACHE=$(realpath -m "${RAIL_STREAM_CACHE:-$repo/.cache}")
chroots=$(realpath -m "${RAIL_STREAM_CHROOTS:-$RAIL_STREAM_CACHE/chroots}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
steps=${MATRIX_STEPS:-regress upgrade tap}

if [ "$(id -u)" -ne 0 ]; then
	echo "test/matrix/run.sh: needs root (debootstrap, chroot, mount)" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		debootstrap >/dev/null
fi

# the release that packages a major version
suite_of() {
	case $1 in
		15) echo bookworm ;;
		17) echo trixie ;;
		18) echo sid ;;
		*) return 1 ;;
	esac
}

# The jars are fetched here, with the host's Maven: the chroots need no Maven
# (nor PyPI: the Avro test's wheels come from the host too, see below).
if [[ " $steps " == *" tap "* || " $steps " == *" bench "* ]]; then
	test/kafka/kafka.sh fetch >/dev/null
	test/stomp/artemis.sh fetch >/dev/null
	test/registry/registry.sh fetch >/dev/null
fi

mkdir -p "$chroots/logs"

# run a command in a chroot, in new mount and PID namespaces: /proc, /sys,
# /dev and the Kafka jars are mounted for it alone, and whatever it leaves
# running (a server, a broker) dies with it.  With BENCH_OUT set, that
# directory of the host is bench/e2e/out of the chroot's tree.
in_chroot() {
	local root=$1
	shift
	unshare --mount --pid --fork --propagation private \
		env ROOT="$root" CACHE="$RAIL_STREAM_CACHE" BENCH_OUT="${BENCH_OUT:-}" bash -euc '
		mount -t proc proc "$ROOT/proc"
		mount -t sysfs sys "$ROOT/sys"
		mount --rbind /dev "$ROOT/dev"
		mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
		mount -t tmpfs -o mode=1777 tmp "$ROOT/tmp"
		mkdir -p "$ROOT/cache"
		for d in "$CACHE"/kafka-* "$CACHE"/artemis-* "$CACHE"/apicurio-* \
			"$CACHE"/avro-wheels-*; do
			[ -d "$d" ] || continue
			mkdir -p "$ROOT/cache/${d##*/}"
			mount --bind -o ro "$d" "$ROOT/cache/${d##*/}"
		done
		if [ -n "$BENCH_OUT" ]; then
			mkdir -p "$ROOT/build/rail_stream/bench/e2e/out"
			mount --bind "$BENCH_OUT" "$ROOT/build/rail_stream/bench/e2e/out"
		fi
		cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
		exec chroot "$ROOT" /usr/bin/env -i \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
			RAIL_STREAM_CACHE=/cache "$@"
		' bash "$@"
}

# create, or bring up to date, the chroot of version $1
prepare_chroot() {
	local v=$1 suite root want have t0=$SECONDS
	suite=$(suite_of "$v")
	root=$chroots/pg$v
	want="$suite $(test/matrix/packages.sh "$v" | tr '\n' ' ')"
	if [ ! -x "$root/usr/bin/apt-get" ]; then
		echo "pg$v: creating a $suite chroot in $root" >&2
		rm -rf "$root.new"
		debootstrap --variant=minbase --components=main "$suite" "$root.new" \
			"$mirror" >"$chroots/logs/pg$v-debootstrap.log" 2>&1 || {
			tail -20 "$chroots/logs/pg$v-debootstrap.log" >&2
			return 1
		}
		rm -rf "$root"
		mv "$root.new" "$root"
	fi
	# no service starts in the chroot (postgresql's postinst would)
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	# and no "main" cluster is created: the tests make their own
	mkdir -p "$root/etc/postgresql-common"
	echo "create_main_cluster = false" \
		>"$root/etc/postgresql-common/createcluster.conf"
	# A mirror that serves a snapshot of Debian serves Release files whose
	# Valid-Until has passed (sid's lasts a week): accept them.
	cat >"$root/etc/apt/apt.conf.d/90matrix" <<'APT'
APT::Install-Recommends "false";
Acquire::Check-Valid-Until "false";
APT
	have=$(cat "$root/.matrix-packages" 2>/dev/null || true)
	if [ "$have" != "$want" ] || [ "${MATRIX_UPDATE:-0}" = 1 ]; then
		echo "pg$v: installing packages into $root" >&2
		# shellcheck disable=SC2046
		in_chroot "$root" sh -ec '
			apt-get update -qq
			apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade
			apt-get install -y -qq -o Dpkg::Options::=--force-confold "$@"
			apt-get clean
		' sh $(test/matrix/packages.sh "$v") \
			>>"$chroots/logs/pg$v-apt.log" 2>&1 || {
			tail -20 "$chroots/logs/pg$v-apt.log" >&2
			return 1
		}
		echo "$want" >"$root/.matrix-packages"
	fi
	echo "pg$v: chroot ready in $((SECONDS - t0)) s" >&2
}

# a copy of this tree: what git tracks, and new files git does not ignore
copy_tree() {
	local dest=$1
	rm -rf "$dest"
	mkdir -p "$dest"
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 -I{} sh -c '[ -e "{}" ] || [ -L "{}" ] && echo "{}"' |
		tar -cf - --no-recursion -T - | tar -C "$dest" -xf -
	chmod -R a+rX "$dest"
}

overall=0
summary=()
for v in "${versions[@]}"; do
	t0=$SECONDS
	log=$chroots/logs/pg$v.log
	: >"$log"
	if ! suite_of "$v" >/dev/null; then
		echo "pg$v: no Debian release here packages PostgreSQL $v" >&2
		summary+=("pg$v: 0 passed, 1 failed")
		overall=1
		continue
	fi
	if ! prepare_chroot "$v" 2>&1 | tee -a "$log" >&2; then
		echo "pg$v: could not make the chroot" >&2
		summary+=("pg$v: 0 passed, 1 failed")
		overall=1
		continue
	fi
	root=$chroots/pg$v
	copy_tree "$root/build/rail_stream"
	# the Avro test's Python packages, for the chroot's Python, from PyPI
	if [[ " $steps " == *" tap "* ]]; then
		pyver=$(chroot "$root" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
		test/registry/avro_venv.sh --wheels "$RAIL_STREAM_CACHE/avro-wheels-$pyver" "$pyver"
	fi
	# the bench step's settings (env -i drops them) and its results
	bench_env=(MATRIX_BENCH_MESSAGES="${MATRIX_BENCH_MESSAGES:-}")
	while IFS= read -r name; do
		bench_env+=("$name=${!name}")
	done < <(compgen -e | grep '^E2E_' || true)
	bench_out=
	if [[ " $steps " == *" bench "* ]]; then
		bench_out=$chroots/bench/pg$v
		mkdir -p "$bench_out"
	fi
	status=0
	BENCH_OUT=$bench_out in_chroot "$root" env PG_CONFIG=/usr/lib/postgresql/$v/bin/pg_config \
		MATRIX_STEPS="$steps" MATRIX_TAP_TESTS="${MATRIX_TAP_TESTS:-}" \
		"${bench_env[@]}" \
		/build/rail_stream/test/matrix/inside.sh \
		2>&1 | sed -u "s/^/pg$v| /" | tee -a "$log" || status=$?
	line=$(sed -n 's/^pg[0-9]*| matrix: \([0-9]* passed, [0-9]* failed\)$/\1/p' "$log" | tail -1)
	[ -n "$line" ] || line="0 passed, 1 failed"
	[ $status -eq 0 ] && [[ $line == *" 0 failed" ]] || overall=1
	echo "pg$v: took $((SECONDS - t0)) s" >&2
	summary+=("pg$v: $line")
done

printf '%s\n' "${summary[@]}"
exit $overall
