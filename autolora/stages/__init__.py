"""The pipeline's stages, a module each, as the Snakemake rules run them (workflow/rules: one rule
file per stage): ``tokenize`` (rows to token ids, once per model), ``search`` (AutoLoRA's bilevel
search of α), ``ranks`` (ranks from α, and the controls' allocations), ``tuning`` (each method's
retraining settings from its trials), ``grid`` (the grid's candidates scored, its rank chosen),
``retrain`` (every trained method) and ``evaluate`` (the reported split scored). No stage imports
another; what they share lives below them (registries, families, models, training, the method core,
the plumbing). The report stage is ``autolora.reporting``.
"""
