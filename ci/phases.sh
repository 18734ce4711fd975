#!/usr/bin/env bash
# `make test`'s phases, one after another, each timed: prints a table at the end — also when a
# phase fails, which then ends the run with that phase's exit code — so the next regression in
# time shows which phase it is in.
#
#   ci/phases.sh PHASE...      each PHASE a make target (deps, lint, unit, images, conformance)
set -uo pipefail
cd "$(dirname "$0")/.."
names=() secs=() results=()
rc=0
total_start=$(date +%s.%N)
for phase in "$@"; do
  printf '\n== phase %s ==\n' "$phase" >&2
  start=$(date +%s.%N)
  make --no-print-directory "$phase"
  code=$?
  end=$(date +%s.%N)
  names+=("$phase")
  secs+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
  if [ "$code" -eq 0 ]; then results+=(pass); else results+=("FAILED (exit $code)"); rc=$code; break; fi
done
total=$(awk -v a="$total_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
{
  printf '\n%-12s %10s  %s\n' phase seconds result
  printf '%s\n' '-------------------------------------------'
  for i in "${!names[@]}"; do
    printf '%-12s %10s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
  done
  for phase in "$@"; do
    case " ${names[*]} " in *" $phase "*) ;; *) printf '%-12s %10s  %s\n' "$phase" - "not run" ;; esac
  done
  printf '%s\n' '-------------------------------------------'
  printf '%-12s %10s\n' total "$total"
} >&2
exit "$rc"
