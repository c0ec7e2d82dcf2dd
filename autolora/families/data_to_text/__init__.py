"""Data-to-text: E2E and WebNLG 2017 (and own ``data_to_text`` tasks), a data record in, a text out.

One package for the task family, with its two model families, each a registered ``Family``:

* ``nlg`` (``nlg.py``): a decoder-only causal LM reads the record as a prompt and continues it;
* ``seq2seq`` (``seq2seq.py``): an encoder-decoder (T5-style) model reads the record and writes.

Both read the same data (``data.py``: the mirror's or the hub's records, linearised as the LoRA
paper's GPT-2 experiments do, references grouped per record) and decode by the same beam search
(``decode.py``); scoring is E2E's and WebNLG's official metrics (``autolora/scoring``).
"""

from autolora.families.data_to_text import nlg, seq2seq

__all__ = ["nlg", "seq2seq"]
