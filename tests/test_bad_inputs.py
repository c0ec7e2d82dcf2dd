"""Bad inputs beyond the config schema: an unknown model, a non-finite loss, an unwritable output."""

import os
import subprocess
import sys

import pytest

from autolora.errors import TrainingError
from autolora.training import check_finite
from tests.conftest import REPO


def test_an_unknown_model_name_is_a_config_error_naming_it():
    # Offline, as here: the hub lookup fails at once instead of retrying.
    code = (
        "from autolora.model import load_sequence_classifier\n"
        "load_sequence_classifier('no-such-org/no-such-model', 2)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ConfigError: model.name 'no-such-org/no-such-model': cannot load it" in result.stderr


@pytest.mark.parametrize("loss", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_with_the_step(loss):
    with pytest.raises(TrainingError, match=f"search: loss is {loss} at step 17"):
        check_finite(loss, 17, "search")
    check_finite(0.5, 18, "search")  # a finite loss passes


def test_an_unwritable_output_stops_a_search_before_any_training(tmp_path, monkeypatch):
    from autolora import search
    from autolora.errors import OutputError

    def no_training_expected(*args, **kwargs):
        raise AssertionError("the search started although its output cannot be written")

    monkeypatch.setattr(search, "load_from_disk", no_training_expected)
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    with pytest.raises(OutputError, match="search.json: its folder .* is not writable"):
        search.run_search(tmp_path / "tokenized", {"search": {}, "lora": {}}, "rte", 0, blocker / "rte" / "search.json")
