#!/usr/bin/env bash
# Builds the tests that share data between threads with ThreadSanitizer (clang)
# and runs them; a stage of ./dev test. Any report fails the stage.
#
#   tests/tsan/run.sh
#
#   TSAN_BUILD_DIR  build directory (default build-tsan)
#
# Qt itself is not instrumented, so these are tests whose threads meet in our
# code and in the standard library: the metrics' atomic counters, frames
# encoded from several threads at once, and the hub with two worker threads
# (tst_workers). Qt's event queue is ordered by locks ThreadSanitizer cannot
# see; server/threading.h, which carries every call Switchboard makes to
# another thread, tells it that order, and suppressions.txt says what else is
# left out and why.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
# The one list of the tests this stage runs.
TESTS=(tst_frame tst_metrics tst_workers)

# clang and its sanitizer runtimes: the fuzzers' packages.
./dev install fuzz

CC=clang CXX=clang++ cmake -S . -B "$TSAN_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_TSAN=ON -DSWITCHBOARD_WERROR=ON \
    -DSWITCHBOARD_BUILD_GUI=OFF -DSWITCHBOARD_BUILD_BENCH=OFF >/dev/null
cmake --build "$TSAN_BUILD_DIR" --target "${TESTS[@]}"

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan/suppressions.txt}
regex=$(IFS='|'; echo "^(${TESTS[*]})\$")
(cd "$TSAN_BUILD_DIR" && ctest --output-on-failure --timeout 300 -R "$regex")
