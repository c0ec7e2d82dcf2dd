"""The built wheel works without the checkout: installed into a fresh virtual environment and run
from a folder outside the repository, it validates a config against its packaged schema, loads a
packaged metric module, and runs the "own model" example of docs/usage.md, all without Snakemake."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPO
from tests.test_readme import readme_block

# Run inside the fresh environment. The tiny BERT and its batches are made here, as the tests'
# fixtures make them (tests/conftest.py is not part of the wheel).
CHECK = '''
import json, sys
import torch
from transformers import BertConfig, BertForSequenceClassification

import autolora
from autolora.config import validate_config
from autolora.metrics import load_metric

pipeline_config = validate_config({"run": "outside", "tasks": ["sst2"], "seeds": [0], "data": {"source": "hub"}})
mrpc = load_metric("glue", "mrpc").compute(predictions=[1, 0], references=[1, 1])

torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(
    vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
    max_position_embeddings=32, attn_implementation="eager"))
def batch(seed):
    generator = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(1, 64, (4, 8), generator=generator),
            "attention_mask": torch.ones(4, 8, dtype=torch.long),
            "labels": torch.randint(0, 2, (4,), generator=generator)}
train_loader, val_loader = [batch(0), batch(1)], [batch(2), batch(3)]
exec(open(sys.argv[1]).read())

print(json.dumps({"package": autolora.__file__, "lora_max_rank": pipeline_config["lora"]["max_rank"], "mrpc": mrpc,
                  "ranks": ranks, "retrained": type(retrained).__name__,
                  "snakemake_imported": any(name.split(".")[0] == "snakemake" for name in sys.modules)}))
'''


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of the package's sources (a build in the checkout would leave build/)."""
    source = out / "source"
    source.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copytree(REPO / "autolora", source / "autolora", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True, text=True)
    return next(out.glob("autolora-*.whl"))


def fresh_environment(folder: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; the dependencies (torch, PEFT, ...) are read from this
    environment's site-packages through a path file, whose own path files (the editable install
    of this checkout among them) Python does not process."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_the_installed_wheel_validates_a_config_loads_a_metric_and_runs_the_own_model_example(tmp_path):
    import json

    wheel = build_wheel(tmp_path / "dist")
    python = fresh_environment(tmp_path / "venv", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "example.py").write_text(readme_block("Using AutoLoRA on your own model"))
    (outside / "check.py").write_text(CHECK)
    run = subprocess.run([str(python), "check.py", "example.py"], cwd=outside, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).is_relative_to(tmp_path / "venv"), result["package"]  # not the checkout's
    assert result["lora_max_rank"] == 8  # the packaged schema's default, filled in
    assert result["mrpc"] == {"accuracy": 0.5, "f1": 2 / 3}
    assert len(result["ranks"]) == 4 and all(1 <= rank <= 8 for rank in result["ranks"].values())
    assert result["retrained"] == "PeftModelForSequenceClassification"
    assert not result["snakemake_imported"]
