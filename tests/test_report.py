"""Tests for autolora.reporting.tables: table numbers against hand-computed values,
seed bookkeeping, file outputs and module-name parsing."""

import io
import os
import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from autolora.reporting import figures, tables
from autolora.reporting.module_names import matrix_columns, matrix_label, module_positions, parse_module_name
from autolora.metrics import trivial_baseline

SEEDS = [0, 1, 2]
BERT_LAYERS = 6
K = 8


def metric_record(task, method, seed, metrics, main, official=True, params=300_000):
    return {
        "family": "glue", "task": task, "method": method, "seed": seed,
        "metrics": metrics, "main_metric": main,
        "eval_split": "dev" if official else "heldout", "eval_split_official": official,
        "trainable_params": params, "head_params": 148_610, "total_rank": 37, "model": "all-MiniLM-L6-v2",
        "n_train": 2000, "n_eval": 277,
    }


def synthetic_metric_records():
    """autolora has rte, qqp (held-out split) and stsb; lora lacks stsb."""
    records = []
    for seed, rte, qqp_acc, qqp_f1, pearson, spearman in zip(
            SEEDS, [0.70, 0.72, 0.74], [0.80, 0.82, 0.84], [0.75, 0.76, 0.77],
            [0.88, 0.89, 0.90], [0.87, 0.88, 0.89]):
        records += [
            metric_record("rte", "autolora", seed, {"accuracy": rte}, "accuracy"),
            metric_record("qqp", "autolora", seed, {"accuracy": qqp_acc, "f1": qqp_f1},
                          "accuracy", official=False),
            metric_record("stsb", "autolora", seed, {"pearson": pearson, "spearman": spearman},
                          "pearson"),
        ]
    for seed, rte, qqp_acc in zip(SEEDS, [0.60, 0.65, 0.70], [0.81, 0.81, 0.84]):
        records += [
            metric_record("rte", "lora", seed, {"accuracy": rte}, "accuracy", params=1_000_000),
            metric_record("qqp", "lora", seed, {"accuracy": qqp_acc, "f1": 0.7}, "accuracy",
                          official=False, params=1_200_000),
        ]
    return records


@pytest.fixture
def table():
    return tables.family_table(synthetic_metric_records(), "glue", {"model": "all-MiniLM-L6-v2"}, SEEDS)


# ---------------------------------------------------------------- table values

def test_cells_are_hand_computed_mean_and_std(table):
    assert table.loc["autolora", "RTE"] == "72.0 ± 2.0"
    assert table.loc["autolora", "QQP†"] == "82.0 ± 2.0"
    assert table.loc["autolora", "STS-B"] == "89.0 ± 1.0"
    assert table.loc["lora", "RTE"] == "65.0 ± 5.0"
    # std of 81, 81, 84 with ddof=1 is sqrt(3) = 1.73
    assert table.loc["lora", "QQP†"] == "82.0 ± 1.7"
    assert table.loc["lora", "STS-B"] == tables.MISSING_CELL


def test_average_is_over_the_tasks_each_method_has(table):
    assert table.loc["autolora", "Avg."] == "81.0"  # (72 + 82 + 89) / 3
    assert table.loc["lora", "Avg."] == "73.5"  # (65 + 82) / 2
    assert any("lora covers only 2 of 3 tasks" in note for note in table.attrs["notes"])


def test_params_and_seeds_columns(table):
    assert table.loc["autolora", tables.LORA_PARAMS_COLUMN] == "0.30M"
    assert table.loc["lora", tables.LORA_PARAMS_COLUMN] == "1.10M"
    assert table.loc["autolora", tables.HEAD_PARAMS_COLUMN] == table.loc["lora", tables.HEAD_PARAMS_COLUMN] == "0.15M"
    assert any(note.startswith(tables.PARAMS_NOTE) for note in table.attrs["notes"])
    assert table.loc["autolora", "seeds"] == "0, 1, 2 (n=3)"


def test_trivial_baselines_are_computed_from_the_labels():
    rte = trivial_baseline("rte", [0] * 146 + [1] * 131)
    assert rte == {"predictor": "majority class", "accuracy": pytest.approx(146 / 277)}
    assert trivial_baseline("cola", [1, 1, 1, 0])["matthews_correlation"] == 0.0
    mrpc = trivial_baseline("mrpc", [1, 1, 1, 0])  # the majority is the positive class: F1 > 0
    assert mrpc["accuracy"] == 0.75 and mrpc["f1"] == pytest.approx(6 / 7)
    assert trivial_baseline("stsb", [0.5, 4.0, 2.2])["pearson"] == 0.0


def test_the_table_names_each_tasks_trivial_baseline():
    records = synthetic_metric_records()
    for record in records:
        if record["task"] == "rte":
            record["trivial_baseline"] = {"predictor": "majority class", "accuracy": 146 / 277}
    table = tables.family_table(records, "glue", {}, SEEDS)
    note = next(note for note in table.attrs["notes"] if note.startswith("Trivial baselines"))
    assert note.endswith("(main metric x100): RTE 52.7 (majority class).")  # QQP, STS-B records lack one


def test_columns_follow_paper_order_and_rows_first_appearance(table):
    assert list(table.columns) == ["QQP†", "RTE", "STS-B", "Avg.", "# LoRA params", "# head params",
                                   "seeds"]
    assert list(table.index) == ["autolora", "lora"]


def test_unofficial_split_gets_dagger_and_footnote(table):
    daggered = [column for column in table.columns if tables.DAGGER in column]
    assert daggered == ["QQP†"]
    footnotes = [note for note in table.attrs["notes"] if note.startswith(tables.DAGGER)]
    assert len(footnotes) == 1
    assert "QQP" in footnotes[0] and "heldout" in footnotes[0] and "RTE" not in footnotes[0]


def test_single_seed_shows_mean_only_and_says_n_1():
    records = [r for r in synthetic_metric_records() if r["seed"] == 0]
    table = tables.family_table(records, "glue", {}, [0])
    assert table.loc["autolora", "RTE"] == "70.0"
    assert table.loc["autolora", "seeds"] == "0 (n=1)"
    assert any("n=1" in note for note in table.attrs["notes"])


def test_records_of_other_families_are_ignored():
    other = dict(metric_record("e2e", "lora", 0, {"bleu": 0.6}, "bleu"), family="nlg")
    table = tables.family_table(synthetic_metric_records() + [other], "glue", {}, SEEDS)
    assert "e2e" not in " ".join(table.columns)


# ---------------------------------------------------------------- seed checks

def test_missing_seed_raises_naming_task_method_seed():
    records = [r for r in synthetic_metric_records()
               if not (r["task"] == "rte" and r["method"] == "lora" and r["seed"] == 1)]
    with pytest.raises(ValueError, match=r"task=rte method=lora seed=1"):
        tables.family_table(records, "glue", {}, SEEDS)


def test_duplicate_seed_raises():
    records = synthetic_metric_records()
    with pytest.raises(ValueError, match="duplicate"):
        tables.family_table(records + [records[0]], "glue", {}, SEEDS)


def test_unexpected_seed_raises():
    with pytest.raises(ValueError, match="unexpected seed 2"):
        tables.family_table(synthetic_metric_records(), "glue", {}, [0, 1])


# ---------------------------------------------------------------- table files

def test_write_table_writes_parseable_md_tex_csv(table, tmp_path):
    prefix = tmp_path / "glue"
    tables.write_table(table, prefix, "GLUE dev results, 50% budget, all_MiniLM")
    assert sorted(os.listdir(tmp_path)) == ["glue.csv", "glue.md", "glue.tex"]

    markdown = (tmp_path / "glue.md").read_text(encoding="utf-8")
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(table)
    assert len({row.count("|") for row in rows}) == 1
    assert "QQP†" in rows[0]
    assert "| autolora | 82.0 ± 2.0 | 72.0 ± 2.0 | 89.0 ± 1.0 | 81.0 |" in markdown
    assert any(line.startswith("† ") and "QQP" in line for line in markdown.splitlines())

    latex = (tmp_path / "glue.tex").read_text(encoding="utf-8")
    for command in [r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lccccccc}"]:
        assert command in latex
    assert r"QQP$^\dagger$" in latex and r"72.0 $\pm$ 2.0" in latex
    assert r"\# LoRA params" in latex and r"50\% budget, all\_MiniLM" in latex
    assert r"$^\dagger$ Not the official" in latex
    body = latex.split("\n", 1)[1]  # the first line is a LaTeX comment
    assert not re.search(r"(?<!\\)[_%#]", body)
    assert body.count("{") == body.count("}")


def test_csv_is_tidy_long_form_with_all_metric_means(table, tmp_path):
    tables.write_table(table, tmp_path / "glue", "caption")
    tidy = pd.read_csv(tmp_path / "glue.csv").set_index(["method", "task"])
    assert len(tidy) == 5  # autolora x 3 tasks + lora x 2 tasks
    stsb = tidy.loc[("autolora", "stsb")]
    assert stsb["mean"] == pytest.approx(0.89)
    assert stsb["std"] == pytest.approx(0.01)
    assert stsb["pearson_mean"] == pytest.approx(0.89)
    assert stsb["spearman_mean"] == pytest.approx(0.88)
    assert stsb["n"] == 3 and stsb["seeds"] == "0;1;2"
    qqp = tidy.loc[("lora", "qqp")]
    assert qqp["std"] == pytest.approx(np.sqrt(3) / 100)
    assert qqp["f1_mean"] == pytest.approx(0.7)
    assert not qqp["eval_split_official"]
    assert tidy.loc[("autolora", "qqp"), "f1_mean"] == pytest.approx(0.76)


# ---------------------------------------------------------------- module names

@pytest.mark.parametrize("name, expected", [
    ("bert.encoder.layer.0.attention.self.query", (0, "q")),
    ("roberta.encoder.layer.11.attention.self.value", (11, "v")),
    ("base_model.model.bert.encoder.layer.4.attention.self.value", (4, "v")),
    ("model.layers.3.self_attn.q_proj", (3, "q")),
    ("model.layers.30.self_attn.v_proj", (30, "v")),
    ("transformer.h.5.attn.q", (5, "q")),
    ("transformer.h.0.attn.v", (0, "v")),
    # T5: the block, not the sublayer ("layer.1"), is the layer; each attention its own columns
    ("encoder.block.3.layer.0.SelfAttention.q", (3, "enc q")),
    ("base_model.model.decoder.block.1.layer.0.SelfAttention.v", (1, "dec v")),
    ("decoder.block.1.layer.1.EncDecAttention.q", (1, "cross q")),
])
def test_parse_module_name(name, expected):
    assert parse_module_name(name) == expected


@pytest.mark.parametrize("name, expected", [
    ("bert.encoder.layer.0.attention.self.key", (0, "attention.self.key")),
    ("model.layers.3.mlp.up_proj", (3, "mlp.up_proj")),
    ("bert.pooler.query", (0, "q")),                              # no integer at all: layer 0
    ("backbone.stages.2.blocks.7.mixer.in_proj", (7, "mixer.in_proj")),  # no known container: the last integer
    ("encoder.block.0.layer.1.DenseReluDense.wi", (0, "layer.1.DenseReluDense.wi")),
])
def test_any_other_module_gets_a_layer_and_its_path_as_column(name, expected):
    assert parse_module_name(name) == expected


def test_stacks_that_share_layer_indices_get_columns_of_their_own():
    modules = [f"model.{stack}.layers.{layer}.self_attn.{m}_proj" for stack in ("encoder", "decoder")
               for layer in range(2) for m in "qv"]
    positions = module_positions(modules)
    assert positions["model.decoder.layers.1.self_attn.v_proj"] == (1, "model.decoder v")
    assert len(set(positions.values())) == len(modules)
    assert matrix_columns(modules) == ["model.encoder q", "model.encoder v", "model.decoder q", "model.decoder v"]
    assert matrix_label("model.decoder v") == "model.decoder v" and matrix_label("cross q") == "cross-attn. query ($W_q$)"


# ---------------------------------------------------------------- figures

def bert_module(layer, matrix):
    leaf = {"q": "query", "v": "value"}[matrix]
    return f"bert.encoder.layer.{layer}.attention.self.{leaf}"


def rank_record(task, seed, offset):
    ranks = {bert_module(layer, matrix): (layer + offset) % K + 1
             for layer in range(BERT_LAYERS) for matrix in "qv"}
    return {"task": task, "seed": seed, "k": K, "threshold": 1 / K, "form": "softmax",
            "ranks": ranks, "total_rank": sum(ranks.values())}


def search_record(task, seed, n_steps=6):
    """Layer l starts uniform (effective rank k) and concentrates on one
    weight from step l on (effective rank 1)."""
    uniform, one_hot = [1 / K] * K, [0.93] + [0.01] * (K - 1)
    history = {bert_module(layer, matrix): [uniform if step < layer else one_hot
                                            for step in range(n_steps)]
               for layer in range(BERT_LAYERS) for matrix in "qv"}
    return {"task": task, "seed": seed, "k": K, "modules": list(history),
            "weights": {module: steps[-1] for module, steps in history.items()},
            "trajectory": {"step": [10 * step for step in range(n_steps)], "weights": history,
                           "train_loss": [1.0] * n_steps, "val_loss": [1.0] * n_steps}}


def assert_valid_png(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 0.05  # not a blank canvas
    assert os.listdir(path.parent) == [path.name]  # no temp file left behind


def test_rank_figure_shows_every_seed_as_a_heat_map(tmp_path):
    records = [rank_record("rte", 0, 0), rank_record("rte", 1, 2),
               rank_record("cola", 0, 1), rank_record("cola", 1, 1)]
    fig = figures.rank_figure(records, tmp_path / "ranks.png")
    assert_valid_png(tmp_path / "ranks.png")
    cola0, cola1, rte0, rte1 = fig.axes[:4]  # paper order puts CoLA first; a panel per seed
    assert "RTE, seed 1" in rte1.get_title() and "CoLA, seed 0" in cola0.get_title()
    # rte layer l: rank (l + offset) % k + 1, offset 2 for seed 1
    grid = rte1.collections[0].get_array().reshape(BERT_LAYERS, 2)
    np.testing.assert_array_equal(grid[:, 0], [(layer + 2) % K + 1 for layer in range(BERT_LAYERS)])
    assert rte0.get_ylabel() == "layer index"
    assert [tick.get_text() for tick in rte0.get_xticklabels()] == ["q", "v"]


def test_alpha_trajectory_figure_shows_effective_rank_of_every_seed(tmp_path):
    later_seed = search_record("rte", 3)
    later_seed["trajectory"]["weights"] = {
        module: [[0.93] + [0.01] * (K - 1)] * 6 for module in later_seed["modules"]}
    records = [later_seed, search_record("rte", 1), search_record("mrpc", 0)]
    fig = figures.alpha_trajectory_figure(records, tmp_path / "alpha.png")
    assert_valid_png(tmp_path / "alpha.png")
    mrpc_q, mrpc_v, rte_q, rte_v, rte3_q, rte3_v = fig.axes[:6]  # MRPC has one seed, RTE two
    assert "seed 1" in rte_q.get_title() and "seed 3" in rte3_q.get_title()
    later = rte3_q.collections[0].get_array().reshape(BERT_LAYERS, 6)
    assert (later == 1).all()  # one weight of 0.93, the rest 0.01: rank 1 everywhere
    effective = rte_q.collections[0].get_array().reshape(BERT_LAYERS, 6)
    expected = [[K if step < layer else 1 for step in range(6)] for layer in range(BERT_LAYERS)]
    np.testing.assert_array_equal(effective, expected)
    assert rte_v.get_xlabel() == "search step" and rte_v.get_ylabel() == "layer index"


def t5_modules(blocks=2):
    return [f"{stack}.block.{block}.layer.{sublayer}.{attention}.{matrix}"
            for stack, sublayer, attention in (("encoder", 0, "SelfAttention"), ("decoder", 0, "SelfAttention"),
                                               ("decoder", 1, "EncDecAttention"))
            for block in range(blocks) for matrix in "qv"]


def test_an_encoder_decoder_s_ranks_are_shown_per_block_and_attention(tmp_path):
    modules = t5_modules()
    ranks = {module: index % K + 1 for index, module in enumerate(modules)}
    record = {"task": "e2e-seq2seq", "seed": 0, "k": K, "ranks": ranks, "total_rank": sum(ranks.values())}
    fig = figures.rank_figure([record], tmp_path / "ranks.png")
    panel = fig.axes[0]
    columns = ["enc q", "enc v", "dec q", "dec v", "cross q", "cross v"]
    assert [tick.get_text() for tick in panel.get_xticklabels()] == columns
    grid = panel.collections[0].get_array().reshape(2, 6)
    assert grid[1, columns.index("cross v")] == ranks["decoder.block.1.layer.1.EncDecAttention.v"]
    history = {module: [[1 / K] * K, [0.93] + [0.01] * (K - 1)] for module in modules}
    search = {"task": "e2e-seq2seq", "seed": 0, "k": K, "trajectory": {"step": [0, 1], "weights": history}}
    fig = figures.alpha_trajectory_figure([search], tmp_path / "alpha.png")
    assert "cross-attn. value" in fig.axes[5].get_title()


def test_captions_name_each_tasks_setting_where_task_overrides_change_it():
    from autolora.reporting.tables import setting_of_tasks

    same = {"rte": {"lora": {"max_rank": 8}}, "stsb": {"lora": {"max_rank": 8}}}
    assert setting_of_tasks(same, "lora", "max_rank") == "8"
    differ = {"rte": {"lora": {"max_rank": 8}}, "e2e": {"lora": {"max_rank": 4}}}
    assert setting_of_tasks(differ, "lora", "max_rank") == "8 (RTE), 4 (E2E)"
