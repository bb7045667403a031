#!/bin/sh
# run.sh: every test of tocsin, as CI runs them, on a fresh Debian 12 machine
# (as root: missing packages are installed first).
#
#   1. the normal build: cmocka unit tests (those of the store, the audit
#      log, escalation and reports twice: on SQLite and on a PostgreSQL
#      server of their own), then pytest integration tests against the
#      real binary and real peers on 127.0.0.1, every store on SQLite;
#      and (beside step 3) the tests of the PostgreSQL test clusters
#      themselves (tests/pg);
#   2. the same suite built with -Db_sanitize=address,undefined, its
#      integration tests with every store on PostgreSQL (a server the
#      session starts) and OpenPGP by gpgme, so that each integration
#      test runs on both store engines and both OpenPGP engines; the
#      tests of SQLite's file itself (marker sqlite_file) run again on
#      SQLite, and the high-availability tests (test_ha.py:
#      the engine and the nodes, not memory) only in the normal build, as
#      the valgrind test (test_valgrind.py: memcheck cannot run a
#      sanitizer build);
#   3. each libFuzzer target, built with clang, for a bounded time;
#   4. the Debian package built, installed, checked and removed
#      (.ci/package).
# The last line is "N passed, N failed", summed over all of it.
#
# Environment: FUZZ_SECONDS (default 10 per target), TEST_WORKERS (pytest
# workers per integration pass, default 2; 0 for one process), SKIP_ASAN=1,
# SKIP_FUZZ=1 and SKIP_PACKAGE=1 for a quicker local run (CI sets none).
set -u
cd "$(dirname "$0")/.."
src=$(pwd)
sh .ci/install-deps || exit $?
py=/usr/bin/python3
out=$src/build-tests
rm -rf "$out"
mkdir -p "$out"
fuzz_seconds=${FUZZ_SECONDS:-10}
# Integration tests mostly wait on peers and child processes: two pytest
# workers, each taking whole files (their module fixtures stay together),
# nearly halve the wall time on two cores.  TEST_WORKERS=0 runs them in
# one process.
workers=${TEST_WORKERS:-2}
xdist=
[ "$workers" -gt 0 ] 2>/dev/null && xdist="-n $workers --dist loadfile"
status=0

step() { printf '\n=== %s\n' "$*"; }

build() {	# dir [meson options...]
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$out/setup-$(basename "$dir").log" 2>&1 || {
			cat "$out/setup-$(basename "$dir").log"
			return 1
		}
	fi
	ninja -C "$dir" >"$out/ninja-$(basename "$dir").log" 2>&1 || {
		cat "$out/ninja-$(basename "$dir").log"
		return 1
	}
	if grep -q 'warning:' "$out/ninja-$(basename "$dir").log"; then
		echo "compiler warnings in $dir:"
		grep 'warning:' "$out/ninja-$(basename "$dir").log"
		echo "build-warnings $dir: FAILED" >>"$out/extra.txt"
	fi
}

suite() {	# name builddir
	name=$1
	dir=$2
	step "$name: unit tests"
	meson test -C "$dir" --print-errorlogs --no-rebuild \
	    >"$out/unit-$name.log" 2>&1 || status=1
	tail -n 15 "$out/unit-$name.log"
	cp "$dir/meson-logs/testlog.txt" "$out/unit-$name.testlog" 2>/dev/null
	if [ "$name" = normal ]; then
		step "$name: integration tests (stores on SQLite)"
		integration "$name" "$dir" sqlite
		return
	fi
	step "$name: integration tests (stores on PostgreSQL, OpenPGP by gpgme)"
	pgp_engine=gpgme
	integration "$name-pg" "$dir" pg \
	    --ignore=tests/integration/test_ha.py \
	    --ignore=tests/integration/test_valgrind.py
	step "$name: integration tests of SQLite's file (stores on SQLite)"
	TOCSIN_BIN=$dir/gateway/tocsin $py -m pytest -q -p no:cacheprovider \
	    --junitxml="$out/integration-$name-sqlite-file.xml" -m sqlite_file \
	    --ignore=tests/integration/test_ha.py tests/integration 2>&1 |
	    tee "$out/integration-$name-sqlite-file.log" | tail -n 30
}

# The outgoing OpenPGP engine of an integration pass: "" the default
# (librnp in process), gpgme for the sanitizer pass, so that the whole
# suite runs on both engines (test_pgpengine.py names its engines itself).
pgp_engine=

# integration NAME BUILDDIR STORE [pytest options...]: the tests but those
# marked timing in $xdist's workers, then those alone in one process, every
# store on STORE (sqlite or pg).
integration() {
	iname=$1
	idir=$2
	istore=$3
	shift 3
	TOCSIN_TEST_PGP_ENGINE=$pgp_engine \
	TOCSIN_TEST_STORE=$istore TOCSIN_BIN=$idir/gateway/tocsin $py -m pytest -q $xdist \
	    -p no:cacheprovider --junitxml="$out/integration-$iname.xml" \
	    -m "not timing" "$@" tests/integration 2>&1 |
	    tee "$out/integration-$iname.log" | tail -n 30
	TOCSIN_TEST_PGP_ENGINE=$pgp_engine \
	TOCSIN_TEST_STORE=$istore TOCSIN_BIN=$idir/gateway/tocsin $py -m pytest -q \
	    -p no:cacheprovider --junitxml="$out/integration-$iname-timing.xml" \
	    -m timing "$@" tests/integration 2>&1 |
	    tee "$out/integration-$iname-timing.log" | tail -n 30
}

# The tests of the PostgreSQL test clusters, beside the fuzz targets,
# which keep one core busy while these mostly wait on the servers.
pg_pass() {
	$py -m pytest -q -p no:cacheprovider \
	    --junitxml="$out/integration-pgcluster.xml" tests/pg \
	    >"$out/integration-pgcluster.log" 2>&1
}

pg_said() {
	step "PostgreSQL test clusters"
	tail -n 5 "$out/integration-pgcluster.log"
}

step "banned functions"
if sh .ci/banned; then
	echo "banned-functions: passed" >>"$out/extra.txt"
else
	echo "banned-functions: FAILED" >>"$out/extra.txt"
fi

step "include walls"
if sh .ci/walls; then
	echo "walls: passed" >>"$out/extra.txt"
else
	echo "walls: FAILED" >>"$out/extra.txt"
fi

step "build"
if build build; then
	suite normal build
else
	echo "build: FAILED" >>"$out/extra.txt"
	status=1
fi

if [ "${SKIP_ASAN:-}" != 1 ]; then
	step "build with AddressSanitizer and UndefinedBehaviorSanitizer"
	if build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dbuildtype=debug; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		    suite asan build-asan
	else
		echo "build-asan: FAILED" >>"$out/extra.txt"
	fi
fi

pgpid=
if [ -x build/gateway/tocsin ]; then
	pg_pass &
	pgpid=$!
fi

if [ "${SKIP_FUZZ:-}" != 1 ]; then
	step "fuzz targets, $fuzz_seconds s each"
	if CC=clang build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
	    -Dc_args=-fsanitize=fuzzer-no-link -Db_lundef=false; then
		for t in build-fuzz/tests/fuzz_*; do
			[ -f "$t" ] && [ -x "$t" ] || continue
			name=$(basename "$t")
			corpus=$(mktemp -d)
			seeds=tests/fuzz/corpus/${name#fuzz_}
			[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
			if "$t" -max_total_time="$fuzz_seconds" -max_len=65536 \
			    -timeout=10 -rss_limit_mb=2048 "$corpus" \
			    >"$out/$name.log" 2>&1; then
				echo "$name: passed"
				echo "$name: passed" >>"$out/extra.txt"
			else
				echo "$name: FAILED"; tail -n 40 "$out/$name.log"
				echo "$name: FAILED" >>"$out/extra.txt"
			fi
			rm -rf "$corpus"
		done
	else
		echo "build-fuzz: FAILED" >>"$out/extra.txt"
	fi
fi

if [ -n "$pgpid" ]; then
	wait "$pgpid"
	pg_said
fi

if [ "${SKIP_PACKAGE:-}" != 1 ]; then
	step "Debian package: build, install, check, remove"
	if sh .ci/package >"$out/package.log" 2>&1; then
		echo "debian-package: passed" >>"$out/extra.txt"
	else
		echo "debian-package: FAILED" >>"$out/extra.txt"
	fi
	tail -n 25 "$out/package.log"
fi

$py tests/summarise.py "$out"
