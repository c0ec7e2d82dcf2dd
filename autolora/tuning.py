"""One tuning protocol for every method (config ``tuning``).

Each trained method of ``methods`` lists the same number of trials, each a few settings of the
``retrain`` and ``adalora`` sections (what the method's own authors tune: the learning rate for
all, AdaLoRA's schedule too). Trial i of method m is its own method, ``tune_<m>_t<i>``: m trained
with the trial's settings on the search-train split of the tuning seed, with m's ranks of that
seed, and scored on its search-validation split (``autolora.grid``'s scorer), never on the split
the tables report. The best trial's settings become m's retraining settings on every seed; the
choice and every trial's training loss and validation score are recorded (``tuning/<m>.json``,
then each retraining record and metrics record of m).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from autolora import atomic

TRIAL_PATTERN = r"tune_([a-z0-9_]+)_t([0-9]+)"


def trial_method(method: str, index: int) -> str:
    return f"tune_{method}_t{index}"


def trial_of(method: str) -> tuple[str, int] | None:
    """(the tuned method, the trial's index) of ``tune_<method>_t<i>``; None for other names."""
    match = re.fullmatch(TRIAL_PATTERN, method)
    return (match.group(1), int(match.group(2))) if match else None


def trial_methods(config: Mapping, method: str) -> list[str]:
    """The trial methods of ``method`` (none where the config does not tune it)."""
    trials = config.get("tuning", {}).get("trials", {}).get(method, [])
    return [trial_method(method, index) for index in range(len(trials))]


def trial_settings(config: Mapping, method: str) -> dict:
    """What trial ``tune_<m>_t<i>`` changes in m's config view: the i-th entry of tuning.trials.m."""
    tuned, index = trial_of(method)
    return config["tuning"]["trials"][tuned][index]


def choose_trial(scores: Sequence[Mapping]) -> int:
    """The index of the best validation score; among equal scores the earliest trial."""
    if not scores:
        raise ValueError("no trials to choose from (config key tuning.trials)")
    sign = 1.0 if scores[0]["higher_is_better"] else -1.0
    return max(range(len(scores)), key=lambda index: (sign * scores[index]["value"], -index))


def run_tuning_choice(method: str, trials: Sequence[Mapping], validation_jsons: Sequence, retrain_jsons: Sequence,
                      out_json) -> dict:
    """The record of one method's tuning on one task: every trial's settings, final training loss
    and search-validation score, and the chosen trial."""
    scores = [json.loads(Path(path).read_text()) for path in validation_jsons]
    logs = [json.loads(Path(path).read_text()) for path in retrain_jsons]
    chosen = choose_trial(scores)
    record = {
        "task": scores[0]["task"],
        "seed": scores[0]["seed"],
        "method": method,
        "metric": scores[0]["metric"],
        "split": "search-validation",
        "trials": [{"settings": settings, "value": score["value"], "final_train_loss": log["epoch_losses"][-1]}
                   for settings, score, log in zip(trials, scores, logs)],
        "chosen": chosen,
        "settings": trials[chosen],
    }
    atomic.write_json(out_json, record)
    return record


def carried(choice: Mapping) -> dict:
    """What a tuned method's retraining and metrics records keep of its tuning."""
    return {"seed": choice["seed"], "chosen": choice["chosen"], "settings": choice["settings"],
            "trials": choice["trials"], "metric": choice["metric"]}


def tuning_note(metric_records: Sequence[Mapping]) -> list[str]:
    """The table note on how the methods were tuned (none where no record was tuned)."""
    tuned = [record for record in metric_records if "tuning" in record]
    if not tuned:
        return []
    chosen = {(record["method"], record["task"]): _flat(record["tuning"]["settings"]) for record in tuned}
    how = tuned[0]["tuning"]
    picks = "; ".join(f"{method} on {task}: {settings}" for (method, task), settings in chosen.items())
    return [f"Tuning: every method's retraining settings chosen from {len(how['trials'])} trials by the "
            f"{how['metric']} on the search-validation split of seed {how['seed']} (trained on its "
            f"search-train split; the reported split is never read); the chosen: {picks}."]


def _flat(settings: Mapping, prefix: str = "") -> str:
    return ", ".join(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else f"{prefix}{key} = {value:g}"
                     if isinstance(value, float) else f"{prefix}{key} = {value}" for key, value in settings.items())
