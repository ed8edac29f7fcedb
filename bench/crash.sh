#!/usr/bin/env bash
# Crash harness, long run: SIGKILL `lokal ingest` and `lokal index` at KILLS
# (default 1,000) random steps of the write path, each kill followed by
# `lokal verify` (and `lokal check` where it exists), a check that every log's
# stored lines are a gapless prefix of what it wrote, and a re-run that must
# leave every line stored exactly once. The inputs grow, rotate and end in
# half-written lines between kills. Same harness as the CI test
# (tests/cli/crash.rs, 60 kills), with a release build so kills land inside
# writes of the real speed.
#
#   bench/crash.sh [KILLS] [SEED]
#
# Prints: kills per command, kills that landed mid-write (a temporary file,
# an unnamed segment or an uncommitted index build left behind), runs that
# finished before their kill, lines written, rotations, lost and doubled
# lines (both must be 0), and the trace points seen. Figures go to README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-1000}
seed=${2:-24301}
LOKAL_CRASH_KILLS=$kills LOKAL_CRASH_SEED=$seed \
  cargo test --release --quiet --test cli crash::sigkill_on_observed_progress -- --nocapture 2>&1 |
  grep -E '^crash harness|panicked|FAILED|test result'
