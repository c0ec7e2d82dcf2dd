"""The package's Hugging Face `evaluate` modules (autolora/evaluate_modules/<name>/): they load offline and give
the pipeline's numbers, on the committed predictions of the CPU reference run and on the
golden vectors of the official E2E and WebNLG scorers."""

import json
import os
import subprocess
import sys

import pytest

from autolora.metrics import load_metric
from autolora.plumbing.package_files import EVALUATE_MODULES
from autolora.families.ner.data import tag_names
from autolora.tasks import load_task
from autolora.scoring.e2e import read_hypotheses, read_references
from autolora.scoring.webnlg import read_reference_folder, read_segments
from tests.conftest import REPO, SHARED
from tests.test_scoring import GOLDEN, e2e_paths, golden_case, needs_golden

# The v1 CPU reference (SST-2, STS-B) and the one before it (RTE, MRPC, CoLA, BioNLP too).
REFERENCE, PREVIOUS = (REPO / "results" / "reference" / name for name in ("cpu-v1", "cpu-previous"))


def reference_job(family, task, seed=0, run=REFERENCE):
    job = run / family / task / f"seed{seed}"
    return (job / "predictions.txt").read_text().splitlines(), json.loads((job / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize("task, run", [("sst2", REFERENCE), ("stsb", REFERENCE), ("rte", PREVIOUS),
                                       ("mrpc", PREVIOUS), ("cola", PREVIOUS), ("stsb", PREVIOUS)])
def test_glue_module_gives_the_committed_metrics_from_the_committed_predictions(task, run):
    labels = load_task(task, "mirror", SHARED / "data", False)[0]["eval"]["label"]
    lines, expected = reference_job("glue", task, run=run)
    predictions = [float(line) for line in lines] if task == "stsb" else [int(line) for line in lines]
    got = load_metric("glue", task).compute(predictions=predictions, references=labels)
    assert got.keys() == expected.keys()
    if task == "stsb":  # float scores: the previous run wrote 6 significant digits, the current 9
        assert got == {name: pytest.approx(value, abs=1e-6) for name, value in expected.items()}
    else:
        assert got == expected


def test_bionlp_module_gives_the_committed_metrics_from_the_committed_predictions():
    sentences = load_task("bionlp", "mirror", SHARED / "data", False)[0]["eval"]
    lines, expected = reference_job("ner", "bionlp", run=PREVIOUS)
    predicted = [line.split() for line in lines]
    true = [tag_names(tags) for tags in sentences["tags"]]
    assert load_metric("bionlp").compute(predictions=predicted, references=true) == expected


@needs_golden
@pytest.mark.slow
@pytest.mark.parametrize("case", ["e2e_example", "e2e_dev_template"])
def test_e2e_module_matches_measure_scores(case):
    refs_path, hyp_path = e2e_paths(case)
    got = load_metric("e2e").compute(predictions=read_hypotheses(hyp_path), references=read_references(refs_path))
    expected = golden_case("e2e", f"{case}__python")["metrics"]
    for metric in ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"):
        assert got[metric] == pytest.approx(expected[metric], abs=1e-9, rel=0), metric


@needs_golden
@pytest.mark.slow
def test_webnlg_module_splits_by_category_as_the_challenge_does():
    inputs = GOLDEN / "webnlg" / "inputs" / "all"
    refs = read_reference_folder(inputs)
    hyps = read_segments(inputs / "hyp.template")
    categories = [line.split("\t")[1] for line in (inputs / "entry_ids").read_text().splitlines() if line]
    got = load_metric("webnlg2017").compute(predictions=hyps, references=refs, categories=categories)
    for split in ("all", "seen", "unseen"):
        expected = golden_case("webnlg", f"webnlg_template_{split}")["metrics"]
        assert got[f"BLEU_{split}"] == expected["BLEU"]
        assert got[f"METEOR_{split}"] == pytest.approx(expected["METEOR"], abs=1e-12, rel=0)
        assert got[f"TER_{split}"] == pytest.approx(expected["TER"], abs=1e-9, rel=0)
    assert got["n_all"] == len(hyps) == got["n_seen"] + got["n_unseen"]


def test_every_module_loads_with_the_network_unreachable(tmp_path):
    code = ("import evaluate, sys\n"
            "for name, config in [('glue', 'mrpc'), ('bionlp', None), ('e2e', None), ('webnlg2017', None)]:\n"
            "    evaluate.load(str(sys.argv[1] + '/' + name), config)\n"
            "print(evaluate.load(sys.argv[1] + '/glue', 'mrpc').compute(predictions=[1, 0], references=[1, 1]))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    run = subprocess.run([sys.executable, "-c", code, str(EVALUATE_MODULES)], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    assert "'accuracy': 0.5" in run.stdout and "'f1': 0.6666666666666666" in run.stdout


def test_the_glue_module_refuses_an_unknown_task():
    with pytest.raises(KeyError, match="unknown GLUE task 'squad'"):
        load_metric("glue", "squad")


@pytest.mark.slow
@pytest.mark.parametrize("task", ["e2e", "webnlg"])
def test_nlg_modules_give_the_committed_metrics_from_the_committed_predictions(task, tmp_path):
    from datasets import load_from_disk

    from autolora.families.data_to_text.data import column_lists, e2e_reference_groups, webnlg_reference_groups
    from autolora.tasks import prepare_task

    data = json.loads((PREVIOUS / "provenance.json").read_text())["config"]["task_overrides"][task]["data"]
    prepare_task(task, "mirror", SHARED / "data", tmp_path / "prepared", max_train_examples=data["max_train_examples"],
                 max_eval_examples=data["max_eval_examples"])
    rows = load_from_disk(str(tmp_path / "prepared"))["eval"]
    lines, expected = reference_job("nlg", task, run=PREVIOUS)
    if task == "e2e":
        _, refs = e2e_reference_groups(rows)
        got = load_metric("e2e").compute(predictions=lines, references=refs, allow_undefined=True)
    else:
        prompts, refs = webnlg_reference_groups(rows, "all")
        category_of = dict(zip(*column_lists(rows, ["prompt", "category"])))
        got = load_metric("webnlg2017").compute(predictions=lines, references=refs, allow_undefined=True,
                                                categories=[category_of[prompt] for prompt in prompts])
    assert got == expected
