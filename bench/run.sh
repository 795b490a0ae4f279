#!/usr/bin/env bash
# The benchmark in one command: bench/run.sh [--quick] [--repeats N] [--only TESTS] ...
# (options: bench/run.sh --help). Uses Debian's python3: the one first on PATH may be
# a pyenv build without the same modules.
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
