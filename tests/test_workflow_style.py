"""`snakemake --lint` and `snakefmt --check` are clean (they run in CI through this test)."""

import shutil
import subprocess
import sys

import yaml

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


def test_the_catalog_file_says_how_to_run_the_workflow():
    """.snakemake-workflow-catalog.yml: the keys the Snakemake workflow catalog reads; its report
    claim is tested by test_pipeline's --report test, its configfile exists."""
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(catalog) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert catalog["report"] is True and catalog["software-stack-deployment"]["conda"] is True
    assert (REPO / catalog["mandatory-flags"]["flags"].split()[-1]).is_file()
    assert (REPO / "config" / "README.md").is_file()
