#!/bin/bash
#
# test/packages/run.sh: the release tarball and the Debian packages, tested
# the way a packager and a hosting provider would use them
#
#   1. the release tarball, made as "make dist" makes it (git archive of the
#      committed tree, plus the tracked files changed in the checkout, under
#      rail_stream-VERSION/), holds what a release needs and builds with
#      plain "make" against PG_CONFIG (what PGXN clients do);
#   2. the .debs build from that unpacked tarball with
#      "dpkg-buildpackage -us -uc -b" (debian/, pg_buildext: one
#      postgresql-NN-rail-stream per version of debian/pgversions that this
#      machine supports) and hold the library, the control file and the
#      install and update scripts;
#   3. they install with "apt-get install ./file.deb" into a clean Debian 12
#      chroot, made with debootstrap from this machine's Debian mirror, so
#      that their dependencies resolve from the archive as on a user's
#      machine and not from what happens to be installed here;
#   4. the autopkgtest, debian/tests/smoke, passes in the chroot, run from
#      the unpacked tarball: test/packages/smoke.sh for each installed
#      version, a cluster of the packaged server with the library preloaded,
#      CREATE EXTENSION, the C functions on a real TRUST frame, the
#      workers, the 1.0 update path.
#
# The debootstrapped base system is cached as a tarball, and the archive's
# .debs too, under $RAIL_STREAM_CACHE/packages (default .cache/packages), so
# only the first run downloads; every run unpacks a fresh chroot from the
# tarball.  Mounts (/proc, /dev, the apt cache) live in a private mount
# namespace (unshare), so they go away with it whatever happens.
#
# Runs as root (debootstrap and chroot need it).  Needs debootstrap,
# dpkg-dev, debhelper and postgresql-server-dev-all (test/deps.sh).
# Prints one line per check and "packages: N passed, N failed"; exits
# non-zero when a check failed.

set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RAIL_STREAM_CACHE:-$top/.cache}
case $cache in /*) ;; *) cache=$top/$cache ;; esac
pkgcache=$cache/packages
suite=bookworm
PG_CONFIG=${PG_CONFIG:-pg_config}

[ "$(id -u)" = 0 ] || { echo "test/packages/run.sh: must run as root (debootstrap, chroot)" >&2; exit 2; }
for cmd in debootstrap dpkg-buildpackage dh pg_buildext unshare git; do
	command -v $cmd >/dev/null ||
		{ echo "test/packages/run.sh: $cmd is missing: run test/deps.sh" >&2; exit 2; }
done

work=$(mktemp -d /tmp/rs-packages.XXXXXX)
log=$work/log
cleanup()
{
	# a smoke-test server left running by an interrupted run: stop it by
	# the pid of its own postmaster.pid (the chroot shares our pids)
	local pidfile pid
	for pidfile in "$work"/root/tmp/rs-smoke.*/data/postmaster.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(head -n 1 "$pidfile")
		# (initdb's single-user backend writes a negative pid: not a
		# postmaster, and kill would take it for a process group)
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -QUIT "$pid" 2>/dev/null || true
	done
	# the chroot's mounts were private to the unshare'd shell; never cross
	# into another file system anyway
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $*"; failed=$((failed + 1)); }

# check NAME COMMAND...: ok when the command succeeds; its output goes to
# the log, which is printed when it fails
check()
{
	local name=$1
	shift
	: >"$log"
	if "$@" >"$log" 2>&1; then
		ok "$name"
	else
		notok "$name"
		tail -n 40 "$log" | sed 's/^/    /'
	fi
}

# phase NAME: a comment line with the seconds since the previous phase
phase_start=$SECONDS
phase()
{
	echo "# $1: $((SECONDS - phase_start)) s"
	phase_start=$SECONDS
}

finish()
{
	echo "# total: $SECONDS s"
	echo "packages: $passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

cd "$top"
debversion=$(dpkg-parsechangelog -l debian/changelog -S Version)
version=${debversion%-*}
source=$(dpkg-parsechangelog -l debian/changelog -S Source)
extversion=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" rail_stream.control)
echo "# rail_stream $version, Debian package $source $debversion"

# --- 1. the release tarball --------------------------------------------------
# what "make dist" does, plus the tracked files changed in the checkout
# (git stash create makes a commit of them without touching the checkout)
tarball=$work/rail_stream-$version.tar.gz
rev=$(git stash create)
check "git archive makes rail_stream-$version.tar.gz" \
	git archive --format=tar.gz --prefix="rail_stream-$version/" \
	-o "$tarball" "${rev:-HEAD}"
tar -tzf "$tarball" >"$work/tarball.list"
missing=
for f in META.json Makefile rail_stream.control debian/control debian/rules \
	sql/rail_stream--1.0.sql "sql/rail_stream--1.0--$extversion.sql" src/rail_stream.c; do
	grep -qx "rail_stream-$version/$f" "$work/tarball.list" || missing="$missing $f"
done
check "the tarball holds the release's files${missing:+ (missing:$missing)}" \
	test -z "$missing"

mkdir "$work/dist"
tar -xzf "$tarball" -C "$work/dist"
check "the tarball's META.json is valid PGXN Meta Spec 1.0.0 and says version $version" \
	python3 "$top/test/packages/check_meta.py" "$work/dist/rail_stream-$version"
check "the unpacked tarball builds with make against $($PG_CONFIG --version)" \
	make -C "$work/dist/rail_stream-$version" -j2 PG_CONFIG="$PG_CONFIG"
check "the build assembles sql/rail_stream--$extversion.sql" \
	test -s "$work/dist/rail_stream-$version/sql/rail_stream--$extversion.sql"

phase "tarball"

# --- 2. the .debs --------------------------------------------------------------
mkdir "$work/deb"
tar -xzf "$tarball" -C "$work/deb"
mv "$work/deb/rail_stream-$version" "$work/deb/$source-$version"
cp "$tarball" "$work/deb/${source}_$version.orig.tar.gz"
# PG_UPDATECONTROL: regenerate debian/control for the versions this machine
# supports (PGDG's builders do the same)
check "dpkg-buildpackage -us -uc -b builds the packages" \
	env -C "$work/deb/$source-$version" PG_UPDATECONTROL=yes \
	dpkg-buildpackage -us -uc -b
versions=$(cd "$work/deb/$source-$version" && pg_buildext supported-versions)
check "debian/pgversions and this machine have versions in common ($(echo $versions))" \
	test -n "$versions"
debs=
for v in $versions; do
	deb=$work/deb/postgresql-$v-${source}_${debversion}_$(dpkg --print-architecture).deb
	if [ -f "$deb" ]; then
		ok "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"
		debs="$debs $deb"
	else
		notok "built $(basename "$deb")"
		continue
	fi
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/deb/contents"
	missing=
	for f in "/usr/lib/postgresql/$v/lib/rail_stream.so" \
		"/usr/share/postgresql/$v/extension/rail_stream.control" \
		"/usr/share/postgresql/$v/extension/rail_stream--$extversion.sql" \
		"/usr/share/postgresql/$v/extension/rail_stream--1.0.sql" \
		"/usr/share/postgresql/$v/extension/rail_stream--1.0--$extversion.sql"; do
		grep -qx "$f" "$work/deb/contents" || missing="$missing $f"
	done
	check "postgresql-$v-$source holds the library, control file and scripts${missing:+ (missing:$missing)}" \
		test -z "$missing"
done
[ -n "$debs" ] || finish

phase "debs"

# --- 3. a clean Debian 12 chroot -----------------------------------------------
# the machine's mirror, from its deb822 sources (the Debian entries only)
sources=$(grep -l 'debian' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^ ]*debian\)\/\?$/\1/p' ${sources:-/dev/null} | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
base=$pkgcache/$suite-base.tar
mkdir -p "$pkgcache/archives/partial"
if [ ! -f "$base" ]; then
	echo "# debootstrap $suite from $mirror (cached as $base)"
	mkdir "$work/base"
	# (without the .debs debootstrap leaves in the apt cache)
	if debootstrap --variant=minbase "$suite" "$work/base" "$mirror" >"$log" 2>&1 &&
		find "$work/base/var/cache/apt/archives" -name '*.deb' -delete &&
		tar -C "$work/base" --one-file-system -cf "$base.tmp" . 2>>"$log"; then
		mv "$base.tmp" "$base"
		ok "debootstrap $suite"
	else
		notok "debootstrap $suite"
		tail -n 40 "$log" | sed 's/^/    /'
		rm -f "$base.tmp"
		finish
	fi
	rm -rf --one-file-system "$work/base"
fi
root=$work/root
mkdir "$root"
check "a clean $suite chroot from the cached base" tar -C "$root" -xf "$base"

# the host's Debian sources (updates and security too: the packaged server's
# minor version may be newer than the release's), its resolver, and no
# service starts from maintainer scripts
if [ -n "$sources" ]; then
	rm -f "$root/etc/apt/sources.list"
	cp "$sources" "$root/etc/apt/sources.list.d/debian.sources"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/tmp/rs-packages"
cp $debs "$root/tmp/rs-packages/"
tar -xzf "$tarball" -C "$root/tmp/rs-packages"
mv "$root/tmp/rs-packages/rail_stream-$version" "$root/tmp/rs-packages/src"

cat >"$work/in-chroot.sh" <<'EOF'
set -e
root=$1
archives=$2
shift 2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o size=256m tmpfs "$root/dev/shm"
mount --bind "$archives" "$root/var/cache/apt/archives"
exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
EOF
in_chroot()
{
	unshare --mount --propagation private \
		bash "$work/in-chroot.sh" "$root" "$pkgcache/archives" "$@"
}

check "apt-get update in the chroot" \
	in_chroot apt-get -q update
check "apt-get install ./postgresql-NN-${source}_*.deb in the chroot" \
	in_chroot sh -c 'cd /tmp/rs-packages && apt-get -q -y --no-install-recommends install ./*.deb'
# the archive's .debs stay in the cache; the partial downloads do not
rm -rf "$pkgcache/archives/partial"/*

phase "chroot"

# --- 4. the smoke test ---------------------------------------------------------
# as autopkgtest runs it: debian/tests/smoke from the top of the unpacked
# source, which runs test/packages/smoke.sh for every installed version
echo "# debian/tests/smoke in the chroot"
set +e
in_chroot sh -c 'cd /tmp/rs-packages/src && ./debian/tests/smoke' \
	>"$work/smoke.out" 2>&1
rc=$?
set -e
sed 's/^\(###\)/#\1/' "$work/smoke.out"
passed=$((passed + $(grep -c '^ok ' "$work/smoke.out" || true)))
failed=$((failed + $(grep -c '^not ok ' "$work/smoke.out" || true)))
for v in $versions; do
	check "debian/tests/smoke tested PostgreSQL $v" \
		grep -qx "### PostgreSQL $v" "$work/smoke.out"
done
if [ $rc != 0 ] && ! grep -q '^not ok ' "$work/smoke.out"; then
	notok "debian/tests/smoke exits with $rc"
fi

phase "smoke test"
finish
