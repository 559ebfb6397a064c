#!/usr/bin/env bash
# Render every example environment, and the controller's own job, into OUT (default: jobspecs/),
# replacing earlier renders.
#   scripts/render_examples.sh            # refresh jobspecs/ after changing nomadctl or examples/
#   scripts/render_examples.sh /tmp/x     # render elsewhere (scripts/check_jobspecs.sh does this)
# The list below is the one source of the example renders; tests/jobspec/test_golden.py reads it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-jobspecs}"
python="${PYTHON:-python}"

# env-id      workflow         var file
examples=(
  "flpdev     flp-dataflow     examples/vars/flp-dev.yaml"
  "flpqc      flp-dataflow     examples/vars/flp-qc.yaml"
  "epndev     epn-processing   examples/vars/epn-dev.yaml"
  "epnvault   epn-processing   examples/vars/epn-vault.yaml"
)

mkdir -p "$out"
rm -f "$out"/aliecs-*.json "$out"/aliecs-*.nomad.hcl "$out"/nomadctl-controller.*
for line in "${examples[@]}"; do
  read -r env_id workflow var_file <<<"$line"
  "$python" -m nomadctl render "$workflow" --repo examples --var-file "$var_file" \
    --providers examples/providers.yaml --env-id "$env_id" --seed 1 --out "$out" >/dev/null
done

# The controller daemon's own job (nomadctl controller run, count 2, one leader), same model and
# validator as the environments' jobs.
"$python" -m nomadctl controller jobspec --out "$out" >/dev/null
