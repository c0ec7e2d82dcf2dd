# Baselines and ablations (autolora.methods): each method's jobs write to
# results/<run>/<family>/<task>/seed<s>/<method>/, its logs and benchmarks to
# <stage>/<family>/<method>/<task>-seed<s>; AutoLoRA's own stay where they were.


rule search_variant:
    input:
        tokenized=tokenized_dir,
        model=model_input,
    output:
        record=f"{method_dir()}/search.json",
    log:
        f"{RESULTS}/logs/{method_log('search')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('search')}.tsv"
    wildcard_constraints:
        method=OWN_SEARCH_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("search"),
        gpu=gpus,
    params:
        cfg=stage_cfg("search"),
    script:
        "../scripts/search.py"


rule uniform_ranks:
    input:
        model=model_input,
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=UNIFORM_RANK_METHODS,
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=runtime("data"),
    params:
        cfg=stage_cfg("uniform_ranks"),
    script:
        "../scripts/uniform_ranks.py"


rule control_ranks:
    input:
        autolora=f"{job_dir()}/ranks.json",
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=CONTROL_METHODS,
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=stage_cfg("ranks"),
    script:
        "../scripts/control_ranks.py"


rule ablation_ranks:
    input:
        search=ablation_search,
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=ABLATION_RANK_METHODS,
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=stage_cfg("ranks"),
    script:
        "../scripts/ranks.py"


rule retrain_method:
    input:
        tokenized=tokenized_dir,
        ranks=method_ranks,
        model=model_input,
    output:
        adapter=directory(f"{method_dir()}/adapter"),
        log=f"{method_dir()}/retrain.json",
    log:
        f"{RESULTS}/logs/{method_log('retrain')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('retrain')}.tsv"
    wildcard_constraints:
        method=TRAINED_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("retrain"),
        gpu=gpus,
    params:
        cfg=stage_cfg("retrain"),
    script:
        "../scripts/retrain.py"


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
        mem_mb=8000,
        runtime=runtime("evaluate"),
        gpu=gpus,
    params:
        cfg=stage_cfg("evaluate"),
    script:
        "../scripts/evaluate.py"


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
        method=r"grid_r[0-9]+",
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("evaluate"),
        gpu=gpus,
    params:
        cfg=stage_cfg("grid_validate"),
    script:
        "../scripts/grid_validate.py"


rule grid_choice:
    input:
        validation=expand(
            f"{method_dir()}/validation.json", method=GRID_RUNS, allow_missing=True
        ),
        ranks=expand(f"{method_dir()}/ranks.json", method=GRID_RUNS, allow_missing=True),
    output:
        f"{method_dir(method=GRID)}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks', GRID)}.log",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    script:
        "../scripts/grid_choice.py"


rule evaluate_no_retrain:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        search=f"{job_dir()}/search.json",
        state=f"{job_dir()}/search_state.safetensors",
        model=model_input,
    output:
        metrics=f"{method_dir(method=NO_RETRAIN)}/metrics.json",
        predictions=f"{method_dir(method=NO_RETRAIN)}/predictions.txt",
    log:
        f"{RESULTS}/logs/{method_log('evaluate', NO_RETRAIN)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate', NO_RETRAIN)}.tsv"
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("evaluate"),
        gpu=gpus,
    params:
        cfg=stage_cfg("no_retrain", NO_RETRAIN),
    script:
        "../scripts/no_retrain.py"
