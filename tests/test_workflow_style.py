"""`snakemake --lint` and `snakefmt --check` are clean (they run in CI through this test)."""

import shutil
import subprocess
import sys

from tests.conftest import REPO


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/test.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in output, output[-3000:]


def test_snakefmt_check_is_clean():
    snakefmt = shutil.which("snakefmt", path=str(REPO / ".venv" / "bin")) or shutil.which("snakefmt")
    assert snakefmt, "snakefmt is not installed (workflow/envs/requirements-cpu.txt pins it)"
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow/rules").glob("*.smk"))]
    result = subprocess.run([snakefmt, "--check", *files], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
