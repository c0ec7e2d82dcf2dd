#!/usr/bin/env bash
# A long run in whole seeds: the main command (workflow/scripts/run.sh) asked for one seed's
# records at a time (every method of every task; the tuning, which every seed waits for, comes
# with the first), then for the whole run (tables, figures, provenance). After each seed a hook
# may save what has landed, e.g. copy and commit it, so that a run cut short (a lost session)
# leaves whole seeds behind. Rerun the same command after any interrupt: finished seeds are not
# redone. Usage:
#   bash workflow/scripts/run-by-seed.sh CONFIG [OVERLAY...] [--after-seed 'COMMAND'] [SNAKEMAKE ARGS...]
# with the config files layered as --configfile layers them (e.g. config/cpu.yaml
# config/cpu-ablations.yaml).
# COMMAND runs in the current directory with SEED set to the seed just finished (and SEED=all
# after the final step).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CONFIGS=()
while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do
    CONFIGS+=("$1")
    shift
done
[ ${#CONFIGS[@]} -gt 0 ] || { echo "run-by-seed: name at least one config file" >&2; exit 2; }
AFTER=
if [ "${1:-}" = --after-seed ]; then
    AFTER=$2
    shift 2
fi
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python

# A line per seed: the seed, then every record of it (the metrics.json of each method on each
# task it runs on), from the config files layered as --configfile layers them.
seed_plan() {
    "$PYTHON" - "$@" <<'EOF'
import sys

import yaml

from autolora.config import deep_merge, validate_config
from autolora.methods import AUTOLORA, methods_of_task
from autolora.tasks import family_of

config = {}
for path in sys.argv[1:]:
    config = deep_merge(config, yaml.safe_load(open(path)) or {})
config = validate_config(config)
for seed in config["seeds"]:
    targets = []
    for task in config["tasks"]:
        folder = f"results/{config['run']}/{family_of(task)}/{task}/seed{seed}"
        targets += [f"{folder}/metrics.json" if method == AUTOLORA else f"{folder}/{method}/metrics.json"
                    for method in methods_of_task(config, task)]
    print(seed, *targets)
EOF
}

PLAN=$(PYTHONPATH=$REPO seed_plan "${CONFIGS[@]}")
mapfile -t SEED_LINES <<< "$PLAN"
for line in "${SEED_LINES[@]}"; do
    read -r seed rest <<< "$line"
    read -r -a targets <<< "$rest"
    echo "run-by-seed: seed $seed" >&2
    # The targets first: --configfile takes every word up to the next option.
    bash "$REPO/workflow/scripts/run.sh" "${targets[@]}" --configfile "${CONFIGS[@]}" "$@"
    [ -z "$AFTER" ] || SEED=$seed bash -c "$AFTER"
done
bash "$REPO/workflow/scripts/run.sh" --configfile "${CONFIGS[@]}" "$@"
[ -z "$AFTER" ] || SEED=all bash -c "$AFTER"
