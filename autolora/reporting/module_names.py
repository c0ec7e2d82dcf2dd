"""Where an adapted matrix sits: its layer and its column in the rank figures and diagnostics.

The figures draw one grid per column (a kind of matrix: the query, the value, ...) with a row per
layer. Known names get short columns: the query and value projections of BERT/RoBERTa
(``…layer.0.attention.self.query``), Llama (``…layers.3.self_attn.q_proj``), GPT-2
(``…h.5.attn.q``, autolora's split of ``c_attn``) become ``q`` and ``v``, and T5's three attentions
``enc q``, ``dec v``, ``cross q`` (its layer is the block, since its ``layer`` numbers a block's
sublayers). Any other name still has a place, so that a model or ``lora.targets`` this module has
never seen never stops a report: its layer is the integer after a layer container or, failing
that, the last integer in the name (0 without one), and its column the path after that index
(``attention.self.key``, ``mlp.up_proj``). Where two stacks share layer indices (an encoder and a
decoder), ``module_positions`` tells their columns apart by the stack's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

# Path components that precede the block index in BERT/RoBERTa, Llama and GPT-2 style names.
_LAYER_CONTAINERS = {"layer", "layers", "h"}
_T5_BLOCKS = "block"
_MATRIX_BY_LEAF = {
    "query": "q", "q_proj": "q", "q": "q",
    "value": "v", "v_proj": "v", "v": "v",
}
# An encoder-decoder's attentions (T5's module names), each a pair of columns of its own.
_ATTENTION_WORDS = {"enc": "encoder self-attn.", "dec": "decoder self-attn.", "cross": "cross-attn."}
# The known columns, in this order where present; any other column follows in order of appearance.
MATRIX_COLUMNS = ("q", "v", *(f"{attention} {matrix}" for attention in _ATTENTION_WORDS for matrix in "qv"))
_PEFT_PREFIX = ("base_model", "model")


def _layer_index(parts: list[str]) -> int | None:
    """The position in ``parts`` of the layer index, or None where the name has no integer."""
    containers = {_T5_BLOCKS} if _T5_BLOCKS in parts else _LAYER_CONTAINERS
    after_container = [i + 1 for i, (before, after) in enumerate(pairwise(parts))
                       if before in containers and after.isdigit()]
    if len(after_container) == 1:
        return after_container[0]
    integers = [i for i, part in enumerate(parts) if part.isdigit()]
    return integers[-1] if integers else None


def parse_module_name(name: str) -> tuple[int, str]:
    """(layer index, column) of an adapted matrix (the module docstring says how)."""
    parts = name.split(".")
    index = _layer_index(parts)
    layer = int(parts[index]) if index is not None else 0
    matrix = _MATRIX_BY_LEAF.get(parts[-1])
    if matrix is None:
        return layer, ".".join(parts[index + 1:] if index is not None else parts[-1:])
    if _T5_BLOCKS in parts:
        attention = "cross" if "EncDecAttention" in parts else "dec" if "decoder" in parts else "enc"
        return layer, f"{attention} {matrix}"
    return layer, matrix


def _stack(name: str) -> str:
    """The path before the layer container (``model.decoder``), without PEFT's prefix."""
    parts = name.split(".")
    index = _layer_index(parts)
    before = parts[:index - 1] if index else parts[:-1]
    while before[:2] == list(_PEFT_PREFIX):
        before = before[2:]
    return ".".join(before)


def module_positions(modules: Iterable[str]) -> dict[str, tuple[int, str]]:
    """(layer, column) of every module, no two alike: columns that two stacks share (an
    encoder's and a decoder's ``q``) are prefixed by the stack's name (``model.decoder q``)."""
    modules = list(modules)
    positions = {module: parse_module_name(module) for module in modules}
    seen: dict[tuple[int, str], list[str]] = {}
    for module, position in positions.items():
        seen.setdefault(position, []).append(module)
    clashing = {module for names in seen.values() if len(names) > 1 for module in names}
    for module in clashing:
        layer, column = positions[module]
        positions[module] = (layer, f"{_stack(module)} {column}")
    if len(set(positions.values())) != len(positions):
        raise ValueError(f"modules that share a layer and a column even with their stack's name: {sorted(clashing)}")
    return positions


def matrix_columns(modules: Iterable[str]) -> list[str]:
    """The figure columns these modules fill: the known ones in ``MATRIX_COLUMNS`` order, then
    the others in the order they first appear."""
    present = list(dict.fromkeys(column for _, column in module_positions(modules).values()))
    known = [column for column in MATRIX_COLUMNS if column in present]
    return known + [column for column in present if column not in known]


def matrix_label(column: str) -> str:
    """'query ($W_q$)', 'cross-attn. query ($W_q$)'; any other column as it is named."""
    *attention, matrix = column.split()
    name = {"q": "query ($W_q$)", "v": "value ($W_v$)"}.get(matrix)
    if name is None or (attention and attention[0] not in _ATTENTION_WORDS):
        return column
    return f"{_ATTENTION_WORDS[attention[0]]} {name}" if attention else name


def is_projection(column: str, matrix: str) -> bool:
    """Whether a column is the query (``q``) or value (``v``) projection, of any attention or stack."""
    return column.split()[-1] == matrix
