"""The tuning stage: one protocol for every method (config ``tuning``; its trials: ``autolora.trials``).

Each trained method of ``methods`` lists the same number of trials, each a few settings of the
``retrain`` and ``adalora`` sections (what the method's own authors tune: the learning rate for
all, AdaLoRA's schedule too). Trial i of method m (the ``method`` and ``trial`` wildcards of
``workflow/rules/tuning.smk``, folder ``tune_<m>_t<i>``) is m trained with the trial's settings on
the search-train split of the tuning seed, with m's ranks of that seed, and scored on its
search-validation split (``autolora.stages.grid``'s scorer), never on the split
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
from collections.abc import Mapping, Sequence
from pathlib import Path

from autolora.plumbing import atomic


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
