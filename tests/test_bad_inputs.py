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
    from autolora.stages import search
    from autolora.errors import OutputError

    def no_training_expected(*args, **kwargs):
        raise AssertionError("the search started although its output cannot be written")

    monkeypatch.setattr(search, "load_from_disk", no_training_expected)
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    with pytest.raises(OutputError, match="search.json: its folder .* is not writable"):
        search.run_search(tmp_path / "tokenized", {"search": {}, "lora": {}}, "rte", 0, blocker / "rte" / "search.json")


# ---- issue 13: bad inputs named before any job (or, where only the model knows, before training)

def validated(changes: dict, base_dir=REPO):
    import copy

    import yaml

    from autolora.config import validate_config

    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    config["data"]["mirror"] = str(REPO.parent / "shared" / "data")
    for dotted, value in changes.items():
        *sections, key = dotted.split(".")
        target = config
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    return validate_config(config, base_dir=base_dir)


@pytest.mark.parametrize(("changes", "message"), [
    ({"search.epochs": 1.0}, "config key search.epochs: 1.0 is not an integer"),
    ({"retrain.batch_size": 8.0}, "config key retrain.batch_size: 8.0 is not an integer"),
    ({"lora.max_rank": 4.0}, "config key lora.max_rank: 4.0 is not an integer"),
    ({"data.max_train_examples": 48.0}, "config key data.max_train_examples: 48.0 is not an integer"),
    ({"seeds": [0.0]}, "config key seeds.0: 0.0 is not an integer"),
    ({"task_overrides.rte.search": {"epochs": 2.0}}, "config key task_overrides.rte.search.epochs: 2.0 is not an integer"),
    ({"seeds": [2 ** 32]}, "config key seeds.0: 4294967296 is greater than the maximum of 4294967295"),
    ({"run": ".."}, "config key run: '..' does not match"),
    ({"run": "."}, "config key run: '.' does not match"),
])
def test_bad_config_values_are_named_before_any_job(changes, message):
    from autolora.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        validated(changes)
    assert message in str(error.value)


def test_verifying_a_mirror_without_checksums_is_an_error(tmp_path):
    from autolora.data import checksums_to_verify
    from autolora.errors import ConfigError, DataError

    mirror = tmp_path / "mirror"
    for folder in ("glue", "e2e", "webnlg2017", "jnlpba"):
        (mirror / folder).mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"config key data.verify_checksums: true, but .*SHA256SUMS does not exist"):
        validated({"data.mirror": str(mirror)})
    validated({"data.mirror": str(mirror), "data.verify_checksums": False})  # asked not to verify: fine
    with pytest.raises(DataError, match="SHA256SUMS: not found"):
        checksums_to_verify(mirror, True)


def test_a_model_folder_without_a_model_is_named(tmp_path):
    from autolora.errors import ConfigError

    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("weights go here")
    with pytest.raises(ConfigError, match="config key model.name: .*not-a-model is a folder without a model"):
        validated({"model.name": str(tmp_path / "not-a-model")})


def test_a_system_error_while_loading_is_not_blamed_on_the_model_name(monkeypatch):
    import errno

    from transformers import AutoModelForSequenceClassification

    from autolora.model import load_sequence_classifier

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left on device") as error:
        load_sequence_classifier("all-MiniLM-L6-v2", 2)
    assert "model.name" not in str(error.value)


@pytest.mark.parametrize("max_rank", [17, 10 ** 6])
def test_a_rank_above_the_matrix_is_a_config_error_before_any_allocation(tiny_bert, max_rank):
    from autolora.core import AutoLoraConfig
    from autolora.core.injection import inject_selection_lora
    from autolora.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"config key lora.max_rank: max_rank {max_rank} exceeds the smaller "
                                          r"dimension of the 16×16 matrix \(bert.encoder.layer.0.attention.self.query\)"):
        inject_selection_lora(tiny_bert(), AutoLoraConfig(max_rank=max_rank))


def test_a_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    from autolora.families.ner.data import read_text_lines

    path = tmp_path / "train.iob2"
    path.write_bytes("\ufeffIL-2\tB-protein\n".encode("utf-8"))
    assert read_text_lines(path)[0] == "IL-2\tB-protein"


@pytest.mark.parametrize("case", ["folder", "empty"])
def test_autolora_score_names_a_bad_input_file(tmp_path, case):
    refs, hyp = tmp_path / "refs.txt", tmp_path / "hyp.txt"
    hyp.write_text("a sentence\n")
    if case == "folder":
        refs.mkdir()
    else:
        refs.write_text("")
    result = subprocess.run([sys.executable, "-m", "autolora.cli", "score", "e2e", str(refs), str(hyp)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    expected = "a folder; expected a text file" if case == "folder" else "the file is empty"
    assert f"autolora score: error: REFS {refs}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_autolora_help_exits_zero():
    result = subprocess.run([sys.executable, "-m", "autolora.cli", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "autolora score e2e" in result.stdout


def test_loading_a_model_for_a_new_task_prints_no_load_report():
    code = ("from autolora.model import load_sequence_classifier, load_task_model\n"
            "load_sequence_classifier('all-MiniLM-L6-v2', 2)\n"
            "load_task_model({'task': 'bionlp', 'family': 'ner', 'model': {'name': 'all-MiniLM-L6-v2'}})\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOAD REPORT" not in result.stderr and "MISSING" not in result.stderr
    assert "weights outside the named head modules" not in result.stderr  # only the fresh head: nothing to say


def test_weights_missing_outside_the_head_are_reported_in_one_line(capsys):
    from autolora.model import _report_surprising_weights

    _report_surprising_weights("m", {"missing_keys": ["classifier.weight", "bert.encoder.layer.0.output.dense.weight"],
                                     "unexpected_keys": ["pooler.dense.bias", "lm_head.weight"]})
    err = capsys.readouterr().err
    assert ("1 weights outside the named head modules initialised fresh, trained as the task head "
            "['bert.encoder.layer.0.output.dense.weight']") in err
    assert "1 checkpoint weights unused ['lm_head.weight']" in err


def test_an_encoder_decoder_model_for_data_to_text_is_a_config_error(tmp_path):
    """The nlg family assumes a decoder-only language model; a T5 says so instead of a transformers trace."""
    from transformers import T5Config

    from autolora.errors import ConfigError
    from autolora.model import load_causal_lm

    T5Config(d_model=8, d_ff=8, num_layers=1, num_heads=1, d_kv=8, vocab_size=32).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=r"model.name .*: .*decoder-only language model .* an encoder-decoder \(T5\) for e2e-seq2seq"):
        load_causal_lm(str(tmp_path))
