"""The reduced pipeline on a real one-node SLURM cluster, through workflow/profiles/slurm and
snakemake-executor-plugin-slurm, gives the same ranks and metrics as a local run.
workflow/scripts/slurm-test.sh does the work: it installs slurm-wlm and munge system-wide when
missing and starts their daemons, so it runs only in CI (CI=true) or when asked for with
AUTOLORA_SLURM_TEST=1; `pytest -rP tests/test_slurm.py` also shows its timings and log excerpt."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "workflow" / "scripts" / "slurm-test.sh"
SKIP_STATUS = 77  # what the script exits with when this machine cannot host the cluster
RUN_TIMEOUT_S = 900  # each of the two snakemake runs (about 3.5 and 2 minutes on 2 shared cores)


def skip_reason(output: str) -> str:
    reasons = [line.removeprefix("SKIP: ") for line in output.splitlines() if line.startswith("SKIP: ")]
    return reasons[-1] if reasons else "slurm-test.sh could not set up a SLURM cluster here"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CI") != "true" and os.environ.get("AUTOLORA_SLURM_TEST") != "1",
                    reason="installs SLURM system-wide and starts its daemons: set AUTOLORA_SLURM_TEST=1 to run it")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root: installs slurm-wlm and munge, runs munged, slurmctld and slurmd")
def test_reduced_pipeline_on_slurm_equals_a_local_run():
    # SLURM jobs re-run the interpreter that runs snakemake, so it must be this venv's.
    env = dict(os.environ, PYTHON=sys.executable, SLURM_TEST_TIMEOUT=str(RUN_TIMEOUT_S))
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=2 * RUN_TIMEOUT_S + 300)
    if result.returncode == SKIP_STATUS:
        pytest.skip(skip_reason(result.stdout))
    print(result.stdout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    assert "PASS:" in result.stdout
