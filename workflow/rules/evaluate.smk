# Stage 5: score each method (autolora.methods: ``Method.scored_by``). Trained methods reload
# their saved adapter and score the evaluation split (GLUE dev or the mirror's held-out split;
# E2E / WebNLG test by beam search and the official metrics; JNLPBA test); the grid's candidates
# score search-validation; the no_retrain ablation scores the search model itself. AutoLoRA's
# own evaluation, the first rule, writes to the job folder.


rule evaluate_method:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        adapter=f"{method_dir()}/adapter",
        retrain_log=f"{method_dir()}/retrain.json",
        model=model_input,
    output:
        metrics=f"{method_dir()}/metrics.json",
        predictions=f"{method_dir()}/predictions.txt",
    log:
        f"{RESULTS}/logs/{method_log('evaluate')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate')}.tsv"
    wildcard_constraints:
        method=EVALUATED_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        **gpu_job("evaluate"),
    params:
        cfg=stage_cfg("evaluate"),
    script:
        "../scripts/evaluate.py"


use rule evaluate_method as evaluate with:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        adapter=f"{job_dir()}/adapter",
        retrain_log=f"{job_dir()}/retrain.json",
        model=model_input,
    output:
        metrics=f"{job_dir()}/metrics.json",
        predictions=f"{job_dir()}/predictions.txt",
    log:
        f"{RESULTS}/logs/{method_log('evaluate', AUTOLORA)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate', AUTOLORA)}.tsv"


rule grid_validate:
    input:
        tokenized=tokenized_dir,
        adapter=f"{method_dir()}/adapter",
        model=model_input,
    output:
        f"{method_dir()}/validation.json",
    log:
        f"{RESULTS}/logs/{method_log('evaluate')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate')}.tsv"
    wildcard_constraints:
        method=GRID_VALIDATED_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        **gpu_job("evaluate"),
    params:
        cfg=stage_cfg("grid_validate"),
    script:
        "../scripts/grid_validate.py"


rule evaluate_no_retrain:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        search=f"{job_dir()}/search.json",
        state=f"{job_dir()}/search_state.safetensors",
        model=model_input,
    output:
        metrics=f"{method_dir()}/metrics.json",
        predictions=f"{method_dir()}/predictions.txt",
    log:
        f"{RESULTS}/logs/{method_log('evaluate')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate')}.tsv"
    wildcard_constraints:
        method=SEARCH_MODEL_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        **gpu_job("evaluate"),
    params:
        cfg=stage_cfg("no_retrain"),
    script:
        "../scripts/no_retrain.py"
