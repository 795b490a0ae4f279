#!/usr/bin/env bash
# CI hook: every fuzz target for 30 s with ASan + UBSan; non-zero on any finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
FUZZ_SECONDS=30 exec ./run.sh "$@"
