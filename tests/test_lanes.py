"""Test lanes: a test that needs ../shared skips where it is absent, and errors under CI=true,
where a clean clone must have it beside it."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

NEEDS_ABSENT_MIRROR = '''
import pytest

@pytest.mark.needs_shared("no-such-folder")
def test_reads_the_mirror():
    pass
'''


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_shared_folder_skips_locally_and_fails_in_ci(tmp_path, ci, outcome):
    (tmp_path / "test_needs_mirror.py").write_text(NEEDS_ABSENT_MIRROR)
    result = subprocess.run(
        # The repository's conftest as a plugin: the test file lies outside tests/.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "CI": ci},
    )
    assert outcome in result.stdout, result.stdout[-2000:]
