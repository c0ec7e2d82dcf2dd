"""One tuning protocol for every method (config ``tuning``).

Each trained method of ``methods`` lists the same number of trials, each a few settings of the
``retrain`` and ``adalora`` sections (what the method's own authors tune: the learning rate for
all, AdaLoRA's schedule too). Trial i of method m is its own method, ``tune_<m>_t<i>``: m trained
with the trial's settings on the search-train split of the tuning seed, with m's ranks of that
seed, and scored on its search-validation split (``autolora.grid``'s scorer), never on the split
the tables report. The best trial's settings become m's retraining settings on every seed; the
choice and every trial's training loss and validation score are recorded (``tuning/<m>.json``,
then each retraining record and metrics record of m).

The trials are either listed per method (``tuning.trials``) or a geometric ladder shared by every
method (``tuning.ladder``: ``start × factor^j`` for ``rungs`` rungs). A ladder extends itself: a
choice at either end of the rungs tried adds the next rung on that side, round after round (each
round a Snakemake checkpoint), until the choice is interior or ``max_extensions`` rungs were added
on that side; every rung tried is recorded. Listed trials are one round that never extends. Under a
ladder the grid's candidates are tuned one by one (``grid_r{r}``), and the grid's final run takes
the settings of the candidate it chose.
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


def ladder_trials(ladder: Mapping) -> list[dict]:
    """Every rung a ladder may try, lowest first: ``max_extensions`` below the initial rungs, the
    ``rungs`` initial ones (``start × factor^j``), ``max_extensions`` above."""
    section, key = ladder["setting"].split(".")
    extensions = ladder["max_extensions"]
    # 12 significant digits: 1e-5 × 10^-1 is 1e-6, not 1.0000000000000002e-06, in records and tables.
    return [{section: {key: float(f"{ladder['start'] * ladder['factor'] ** (index - extensions):.12g}")}}
            for index in range(ladder["rungs"] + 2 * extensions)]


def tuned_methods(config: Mapping, grid_runs: Sequence[str] = ()) -> list[str]:
    """The methods with tuning trials: those listed under tuning.trials, or under a ladder every
    trained method of ``methods`` in the order listed, the grid as its candidates ``grid_runs``."""
    from autolora.methods import GRID, training_of  # the registry imports this module

    tuning = config.get("tuning")
    if tuning is None:
        return []
    if "ladder" not in tuning:
        return list(tuning["trials"])
    methods = [method for method in config["methods"] if training_of(method) is not None]
    return [run for method in methods for run in (grid_runs if method == GRID else [method])]


def tuning_trials(config: Mapping, method: str) -> list[dict]:
    """Every trial ``method`` may run: its listed trials, or every rung of the ladder."""
    tuning = config["tuning"]
    return ladder_trials(tuning["ladder"]) if "ladder" in tuning else tuning["trials"][method]


def trial_methods(config: Mapping, method: str, grid_runs: Sequence[str] = ()) -> list[str]:
    """The trial methods ``method`` may run (none where the config does not tune it)."""
    if method not in tuned_methods(config, grid_runs):
        return []
    return [trial_method(method, index) for index in range(len(tuning_trials(config, method)))]


def trial_settings(config: Mapping, method: str) -> dict:
    """What trial ``tune_<m>_t<i>`` changes in m's config view: its entry of ``tuning_trials``."""
    tuned, index = trial_of(method)
    return tuning_trials(config, tuned)[index]


def initial_range(config: Mapping, method: str) -> tuple[int, int]:
    """The trials of the first round, as the first and last index: every listed trial, or the
    ladder's initial rungs."""
    tuning = config["tuning"]
    if "ladder" not in tuning:
        return 0, len(tuning["trials"][method]) - 1
    ladder = tuning["ladder"]
    return ladder["max_extensions"], ladder["max_extensions"] + ladder["rungs"] - 1


def next_range(tried: tuple[int, int], chosen: int, n_trials: int) -> tuple[int, int] | None:
    """The trials of the next round: one more rung beyond the end that was chosen, where one is
    left; None when the choice is interior or no rung is left on its side (the tuning is done)."""
    low, high = tried
    if chosen == low and low > 0 and low < high:
        return low - 1, high
    if chosen == high and high < n_trials - 1:
        return low, high + 1
    return None


def choose_trial(scores: Sequence[Mapping]) -> int:
    """The index of the best validation score; among equal scores the earliest trial."""
    if not scores:
        raise ValueError("no trials to choose from (config key tuning.trials)")
    sign = 1.0 if scores[0]["higher_is_better"] else -1.0
    return max(range(len(scores)), key=lambda index: (sign * scores[index]["value"], -index))


def run_tuning_round(method: str, trials: Sequence[Mapping], tried: Sequence[int], round_index: int,
                     validation_jsons: Sequence, retrain_jsons: Sequence, out_json) -> dict:
    """The record of one round of one method's tuning on one task: every trial tried so far (the
    range ``tried`` of ``trials``, lowest first) with its settings, final training loss and
    search-validation score, the chosen trial (its index in ``trials``) and the next round's range
    (None: the tuning is done)."""
    scores = [json.loads(Path(path).read_text()) for path in validation_jsons]
    logs = [json.loads(Path(path).read_text()) for path in retrain_jsons]
    low, high = tried
    if len(scores) != high - low + 1:
        raise ValueError(f"round {round_index} of {method}: {len(scores)} scores for trials {low}..{high}")
    chosen = low + choose_trial(scores)
    following = next_range((low, high), chosen, len(trials))
    record = {
        "task": scores[0]["task"],
        "seed": scores[0]["seed"],
        "method": method,
        "metric": scores[0]["metric"],
        "split": "search-validation",
        "round": round_index,
        "range": [low, high],
        "trials": [{"index": index, "settings": trials[index], "value": score["value"],
                    "final_train_loss": log["epoch_losses"][-1]}
                   for index, score, log in zip(range(low, high + 1), scores, logs)],
        "chosen": chosen,
        "settings": trials[chosen],
        "next": list(following) if following else None,
        # Done with the choice at an end of what was tried: the hard limit of the ladder was reached.
        "at_limit": following is None and chosen in (low, high),
    }
    atomic.write_json(out_json, record)
    return record


def run_tuning_choice(last_round_json, out_json) -> dict:
    """A method's tuning record on one task: its last round's, with how many rounds it took."""
    record = json.loads(Path(last_round_json).read_text())
    if record.pop("next") is not None:
        raise ValueError(f"{last_round_json}: not the last round of the tuning")
    record["rounds"] = record.pop("round") + 1
    atomic.write_json(out_json, record)
    return record


def choice_for_ranks(records: Sequence[Mapping], ranks_record: Mapping | None) -> Mapping | None:
    """The tuning record a retraining applies: the method's own, or for the grid's final run (one
    record per candidate) the record of the candidate whose rank it chose."""
    if len(records) <= 1:
        return records[0] if records else None
    from autolora.methods import grid_runs  # the registry imports this module

    chosen = grid_runs([ranks_record["grid"]["chosen_rank"]])[0]
    matching = [record for record in records if record["method"] == chosen]
    if len(matching) != 1:
        raise ValueError(f"no single tuning record of the grid's chosen candidate {chosen} among "
                         f"{[record['method'] for record in records]}")
    return matching[0]


def carried(choice: Mapping) -> dict:
    """What a tuned method's retraining and metrics records keep of its tuning."""
    return {"seed": choice["seed"], "chosen": choice["chosen"], "settings": choice["settings"],
            "trials": choice["trials"], "metric": choice["metric"],
            **{key: choice[key] for key in ("method", "rounds", "at_limit") if key in choice}}


def tuning_note(metric_records: Sequence[Mapping]) -> list[str]:
    """The table note on how the methods were tuned (none where no record was tuned)."""
    tuned = [record for record in metric_records if "tuning" in record]
    if not tuned:
        return []
    chosen = {(record["method"], record["task"]): _flat(record["tuning"]["settings"]) for record in tuned}
    how = tuned[0]["tuning"]
    picks = "; ".join(f"{method} on {task}: {settings}" for (method, task), settings in chosen.items())
    counts = sorted({len(record["tuning"]["trials"]) for record in tuned})
    trials = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    trials = (f"its trials ({trials} per method; a ladder extends past an end that is chosen; every trial in "
              "tuning/<method>.json)")
    at_limit = sorted({f"{record['method']} on {record['task']}" for record in tuned if record["tuning"].get("at_limit")})
    limit = (f"; chosen at an end of the trials tried (the ladder's hard limit, or the end of listed trials): "
             f"{', '.join(at_limit)}" if at_limit else "")
    return [(f"Tuning: every method's retraining settings chosen from {trials} by the {how['metric']} on the "
             f"search-validation split of seed {how['seed']} (trained on its search-train split; the reported split "
             f"is never read); the chosen: {picks}{limit}.")]


def _flat(settings: Mapping, prefix: str = "") -> str:
    return ", ".join(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else f"{prefix}{key} = {value:g}"
                     if isinstance(value, float) else f"{prefix}{key} = {value}" for key, value in settings.items())
