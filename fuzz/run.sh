#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs each for a bounded time, one after the other.
#
#   fuzz/run.sh [target...]      all targets when none is named
#
#   FUZZ_SECONDS    time per target (default 30)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FUZZ_JOBS       build parallelism (default: the generator's)
#
# Each target starts from a temporary copy of its seed corpus in fuzz/corpus/,
# so the repository is never modified. Seeds named crash-* reproduce bugs found
# earlier and must keep passing. Exits non-zero if any target crashes, leaks,
# trips a sanitizer or an invariant, times out or runs out of memory; the
# reproducer is kept in $FUZZ_BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
ALL_TARGETS=(fuzz_httpguard fuzz_frames fuzz_inflate fuzz_router fuzz_jsonbody fuzz_envelope
             fuzz_channels)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")

# What building the fuzzers needs, from the one list in ./dev.
./dev install fuzz

CC=clang CXX=clang++ cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSWITCHBOARD_FUZZ=ON \
    -DSWITCHBOARD_BUILD_GUI=OFF -DSWITCHBOARD_BUILD_TESTS=OFF -DSWITCHBOARD_BUILD_BENCH=OFF \
    >/dev/null
cmake --build "$FUZZ_BUILD_DIR" --target "${TARGETS[@]}" ${FUZZ_JOBS:+--parallel "$FUZZ_JOBS"}

# Findings abort (UBSan included, see fuzz/CMakeLists.txt); leaks are reported.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work=$(mktemp -d -t switchboard-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts="$FUZZ_BUILD_DIR/fuzz-artifacts"
mkdir -p "$artifacts"

failed=()
for target in "${TARGETS[@]}"; do
    corpus="$work/$target"
    mkdir -p "$corpus"
    cp fuzz/corpus/"$target"/* "$corpus"/
    echo "== $target: ${FUZZ_SECONDS}s, seeds from fuzz/corpus/$target" >&2
    log="$work/$target.log"
    status=0
    "$FUZZ_BUILD_DIR/bin/$target" "$corpus" \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target-" >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec' "$log" >&2 \
        || true
    if [ "$status" -ne 0 ] || grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
        echo "!! $target FAILED (exit $status); log follows, reproducer in $artifacts/" >&2
        tail -n 60 "$log" >&2
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzzing: all targets ran ${FUZZ_SECONDS}s without findings" >&2
