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

# The config files layered as Snakemake layers them, validated.
CONFIG_PY='
import sys

import yaml
from snakemake.utils import update_config

from autolora.config import validate_config

def layered(paths):
    config = {}
    for path in paths:
        update_config(config, yaml.safe_load(open(path)) or {})
    return validate_config(config)
'

# Every record of one seed: the metrics.json of each method on each task it runs on.
seed_targets() {
    "$PYTHON" -c "$CONFIG_PY"'
from autolora.methods import AUTOLORA, methods_of_task
from autolora.tasks import family_of

seed, config = sys.argv[1], layered(sys.argv[2:])
run = config["run"]
for task in config["tasks"]:
    for method in methods_of_task(config, task):
        folder = f"results/{run}/{family_of(task)}/{task}/seed{seed}"
        print(f"{folder}/metrics.json" if method == AUTOLORA else f"{folder}/{method}/metrics.json")
' "$@"
}

SEEDS=$(PYTHONPATH=$REPO "$PYTHON" -c "$CONFIG_PY"'
print(*layered(sys.argv[1:])["seeds"])' "${CONFIGS[@]}")
for seed in $SEEDS; do
    echo "run-by-seed: seed $seed" >&2
    mapfile -t targets < <(PYTHONPATH=$REPO seed_targets "$seed" "${CONFIGS[@]}")
    # The targets first: --configfile takes every word up to the next option.
    bash "$REPO/workflow/scripts/run.sh" "${targets[@]}" --configfile "${CONFIGS[@]}" "$@"
    [ -z "$AFTER" ] || SEED=$seed bash -c "$AFTER"
done
bash "$REPO/workflow/scripts/run.sh" --configfile "${CONFIGS[@]}" "$@"
[ -z "$AFTER" ] || SEED=all bash -c "$AFTER"
