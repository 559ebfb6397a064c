#!/usr/bin/env bash
# Drift check for CI: jobspecs/ must be exactly what the current code renders from examples/.
# Fails (exit 1) with a diff when a file differs, is missing or is stale;
# fix with scripts/render_examples.sh and commit jobspecs/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/render_examples.sh "$tmp"
if ! diff -ru jobspecs "$tmp" --exclude=README.md >"$tmp.diff" 2>&1; then
  cat "$tmp.diff"
  rm -f "$tmp.diff"
  echo "jobspecs/ is out of date: run scripts/render_examples.sh and commit jobspecs/" >&2
  exit 1
fi
rm -f "$tmp.diff"
echo "jobspecs/ matches the examples ($(find jobspecs -name 'aliecs-*' -o -name 'nomadctl-controller.*' | wc -l) files)"
