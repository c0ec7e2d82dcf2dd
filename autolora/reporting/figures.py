"""The rank figures from the pipeline's records: the learned ranks of each adapted matrix per
layer and seed (``rank_figure``, from ranks records) and each layer's effective rank over the
search steps (``alpha_trajectory_figure``, from search records holding the trajectory of the
selection weights softmax(α)).

Figures are built with ``matplotlib.figure.Figure`` directly, which renders PNGs with the Agg
backend without touching pyplot's global state, and written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autolora.plumbing import atomic
from autolora.core.ranks import effective_rank
from autolora.reporting.module_names import matrix_columns, matrix_label, module_positions
from autolora.reporting.tables import group_by_task, task_label, task_sort_key, the_same_in_all

_DPI = 150


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def rank_figure(rank_records: Iterable[Mapping], out_png: str | os.PathLike) -> Figure:
    """Heat maps of the learned rank of every adapted matrix, one per seed, side by side.

    One row per task, one panel per seed: x = query / value, y = layer, colour = rank (1..k,
    white where a matrix was not adapted). Seeds that agree look alike at a glance; ranks that
    are noise do not. Unlike bars with whiskers this stays readable for 30-layer models.
    Returns the saved figure.
    """
    by_task = group_by_task(rank_records)
    tasks = sorted(by_task, key=task_sort_key)
    n_seeds = max(len(records) for records in by_task.values())
    # A panel is 1.7 inches for q and v; an encoder-decoder's six columns widen it.
    n_columns = max(len(matrix_columns(record["ranks"])) for records in by_task.values() for record in records)
    fig = Figure(figsize=(0.85 * max(2, n_columns) * n_seeds + 1.2, 3.0 * len(tasks) + 0.6), layout="constrained")
    axes = fig.subplots(len(tasks), n_seeds, squeeze=False)
    for row, task in zip(axes, tasks):
        records = sorted(by_task[task], key=lambda record: record["seed"])
        k = the_same_in_all(records, "k", f"task={task}")
        for ax, record in zip(row, records):
            mesh = _plot_rank_map(ax, record, k)
        for unused in row[len(records):]:
            fig.delaxes(unused)
        colorbar = fig.colorbar(mesh, ax=list(row[:len(records)]), label="learned rank")
        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("Learned LoRA rank of each adapted matrix, per seed")
    save_figure_atomically(fig, out_png)
    return fig


def _plot_rank_map(ax, record: Mapping, k: int):
    ranks = pd.DataFrame(_rank_rows([record]))
    layers = sorted(ranks["layer"].unique())
    columns = matrix_columns(record["ranks"])
    grid = np.full((len(layers), len(columns)), np.nan)
    for row in ranks.itertuples():
        grid[layers.index(row.layer), columns.index(row.matrix)] = row.rank
    mesh = ax.pcolormesh(np.arange(len(columns) + 1) - 0.5, _cell_edges(np.array(layers, dtype=float)),
                         np.ma.masked_invalid(grid), cmap=matplotlib.colormaps["viridis"].resampled(k),
                         vmin=0.5, vmax=k + 0.5, shading="flat")
    ax.set_xticks(range(len(columns)), columns, rotation=90 if len(columns) > 2 else 0)
    ax.set_yticks(layers[::max(1, math.ceil(len(layers) / 16))])
    ax.set_ylabel("layer index")
    ax.set_title(f"{task_label(record['task'])}, seed {record['seed']}\ntotal rank {int(np.nansum(grid))}, k={k}",
                 fontsize="small")
    return mesh


def _rank_rows(records: list[Mapping]) -> list[dict]:
    rows = []
    for record in records:
        positions = module_positions(record["ranks"])
        rows += [{"seed": record["seed"], "layer": positions[module][0], "matrix": positions[module][1], "rank": rank}
                 for module, rank in record["ranks"].items()]
    return rows


def alpha_trajectory_figure(search_records: Iterable[Mapping],
                            out_png: str | os.PathLike) -> Figure:
    """Heat maps of each layer's effective rank over the search steps, for every seed.

    Effective rank = number of the k selection weights softmax(alpha) that are
    >= 1/k, i.e. the rank the paper's thresholding would pick if the search
    stopped at that step. It is an integer in 1..k, so line plots of several
    layers overlap into an unreadable tangle; a heat map (x = search step,
    y = layer, colour = effective rank) shows every layer at once and still
    scales to 30-layer models. Grid: one row per task, a q and a v panel per
    seed, so whether the seeds' trajectories agree shows at a glance.
    Returns the saved figure.
    """
    by_task = group_by_task(search_records)
    tasks = sorted(by_task, key=task_sort_key)
    n_seeds = max(len(records) for records in by_task.values())
    columns = matrix_columns(module for records in by_task.values() for record in records
                             for module in record["trajectory"]["weights"])
    per_seed = len(columns)
    fig = Figure(figsize=(3.2 * per_seed * n_seeds + 1.0, 2.4 * len(tasks) + 0.6), layout="constrained")
    axes = fig.subplots(len(tasks), per_seed * n_seeds, squeeze=False)
    for row, task in zip(axes, tasks):
        records = sorted(by_task[task], key=lambda record: record["seed"])
        for index, record in enumerate(records):
            mesh = _plot_trajectories(row[per_seed * index: per_seed * (index + 1)], record, columns)
        for unused in row[per_seed * len(records):]:
            fig.delaxes(unused)
        colorbar = fig.colorbar(mesh, ax=list(row[:per_seed * len(records)]), label="effective rank")
        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("Effective rank (# selection weights $\\geq 1/k$) during the search")
    save_figure_atomically(fig, out_png)
    return fig


def _plot_trajectories(panels, record: Mapping, columns: list[str]):
    k = record["k"]
    steps, layers, grids = _effective_rank_grids(record, columns)
    colours = matplotlib.colormaps["viridis"].resampled(k)
    for ax, matrix in zip(panels, columns):
        mesh = ax.pcolormesh(_cell_edges(steps), _cell_edges(np.array(layers, dtype=float)),
                             np.ma.masked_invalid(grids[matrix]), cmap=colours,
                             vmin=0.5, vmax=k + 0.5, shading="flat")
        ax.set_yticks(layers[::max(1, math.ceil(len(layers) / 16))])
        ax.set_xlabel("search step")
        ax.set_ylabel("layer index")
        ax.set_title(f"{task_label(record['task'])}: {matrix_label(matrix)}, seed {record['seed']}",
                     fontsize="small")
    return mesh


def _effective_rank_grids(record: Mapping, columns: list[str]) -> tuple[np.ndarray, list[int], dict[str, np.ndarray]]:
    """Steps, layers and per-matrix (layer x step) effective-rank arrays;
    NaN where a layer's matrix was not adapted."""
    k = record["k"]
    trajectory = record["trajectory"]
    steps = np.asarray(trajectory["step"], dtype=float)
    counts = {}
    positions = module_positions(trajectory["weights"])
    for module, history in trajectory["weights"].items():
        key = positions[module]
        weights = np.asarray(history, dtype=float)
        if weights.shape != (len(steps), k):
            raise ValueError(f"trajectory of {module} has shape {weights.shape}, "
                             f"expected {(len(steps), k)}")
        counts[key] = effective_rank(weights)
    layers = sorted({layer for layer, _ in counts})
    grids = {matrix: np.full((len(layers), len(steps)), np.nan) for matrix in columns}
    for (layer, matrix), per_step in counts.items():
        grids[matrix][layers.index(layer)] = per_step
    return steps, layers, grids


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell boundaries half-way between centres, so unevenly logged steps
    still get cells of the right width."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middles = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middles[0]], middles,
                           [2 * centres[-1] - middles[-1]]])


def panel_grid(n_panels: int, max_columns: int = 4):
    columns = min(max_columns, n_panels)
    rows = math.ceil(n_panels / columns)
    fig = Figure(figsize=(3.6 * columns, 2.8 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[n_panels:]:
        fig.delaxes(unused)
    return fig, axes[:n_panels]


def save_figure_atomically(fig: Figure, out_png: str | os.PathLike) -> None:
    atomic.replace_file(out_png, lambda path: fig.savefig(path, dpi=_DPI))
