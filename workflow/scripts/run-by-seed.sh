#!/usr/bin/env bash
# A long run in whole seeds: the main command (workflow/scripts/run.sh) asked for one seed's
# records at a time (every method of every task; the tuning, which every seed waits for, comes
# with the first), then for the whole run (tables, figures, provenance). After each seed a hook
# may save what has landed, e.g. copy and commit it, so that a run cut short (a lost session)
# leaves whole seeds behind. Rerun the same command after any interrupt: finished seeds are not
# redone. Usage:
#   bash workflow/scripts/run-by-seed.sh CONFIG [--after-seed 'COMMAND'] [SNAKEMAKE ARGS...]
# COMMAND runs in the current directory with SEED set to the seed just finished (and SEED=all
# after the final step).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG=$1
shift
AFTER=
if [ "${1:-}" = --after-seed ]; then
    AFTER=$2
    shift 2
fi
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python

# Every record of one seed: the metrics.json of each method on each task it runs on.
seed_targets() {
    "$PYTHON" - "$CONFIG" "$1" <<'EOF'
import sys

import yaml

from autolora.config import validate_config
from autolora.methods import AUTOLORA, methods_of_task
from autolora.tasks import family_of

config = validate_config(yaml.safe_load(open(sys.argv[1])))
for task in config["tasks"]:
    for method in methods_of_task(config, task):
        folder = f"results/{config['run']}/{family_of(task)}/{task}/seed{sys.argv[2]}"
        print(f"{folder}/metrics.json" if method == AUTOLORA else f"{folder}/{method}/metrics.json")
EOF
}

SEEDS=$("$PYTHON" -c 'import sys, yaml; print(*yaml.safe_load(open(sys.argv[1]))["seeds"])' "$CONFIG")
for seed in $SEEDS; do
    echo "run-by-seed: seed $seed" >&2
    mapfile -t targets < <(PYTHONPATH=$REPO seed_targets "$seed")
    bash "$REPO/workflow/scripts/run.sh" --configfile "$CONFIG" "$@" "${targets[@]}"
    [ -z "$AFTER" ] || SEED=$seed bash -c "$AFTER"
done
bash "$REPO/workflow/scripts/run.sh" --configfile "$CONFIG" "$@"
[ -z "$AFTER" ] || SEED=all bash -c "$AFTER"
