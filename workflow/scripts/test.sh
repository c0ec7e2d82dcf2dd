#!/usr/bin/env bash
# Set up the CPU environment (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup-cpu-env.sh
export OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@"  # -rs: every skip says why
