# Stage 4: every trained method (autolora.methods: ``Method.trains``) with its ranks — LoRA
# through PEFT (GPT-2's split q/v by autolora.split_adapter), AdaLoRA, full fine-tuning — on
# train = search-train + search-validation (the grid's candidates: search-train). AutoLoRA's own
# retraining, the same rule, writes to the job folder.


rule retrain_method:
    input:
        tokenized=tokenized_dir,
        ranks=method_ranks,
        model=model_input,
        tuning=tuned_choice,
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
        **gpu_job("retrain"),
    params:
        cfg=stage_cfg("retrain"),
    script:
        "../scripts/retrain.py"


use rule retrain_method as retrain with:
    input:
        tokenized=tokenized_dir,
        ranks=f"{job_dir()}/ranks.json",
        model=model_input,
        tuning=tuned_choice,
    output:
        adapter=directory(f"{job_dir()}/adapter"),
        log=f"{job_dir()}/retrain.json",
    log:
        f"{RESULTS}/logs/{method_log('retrain', AUTOLORA)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('retrain', AUTOLORA)}.tsv"


# The tuning protocol (config ``tuning``, autolora.stages.tuning): a method's retraining settings, those of
# its best trial on the tuning seed's search-validation split. Each round is a checkpoint: a
# ladder whose choice sits at an end of the rungs tried asks for one more rung on that side.
checkpoint tuning_round:
    input:
        validation=lambda wildcards: round_trial_outputs(wildcards, "validation.json"),
        logs=lambda wildcards: round_trial_outputs(wildcards, "retrain.json"),
    output:
        f"{tuning_dir()}/{{method}}/round{{round}}.json",
    log:
        f"{RESULTS}/logs/tuning_round/{{family}}/{{task}}-{{method}}-round{{round}}.log",
    wildcard_constraints:
        round=r"\d+",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        trials=lambda wildcards: tuning_trials(config, wildcards.method),
        tried=tried_range,
    script:
        "../scripts/tuning_round.py"


rule tuning_choice:
    input:
        last_tuning_round,
    output:
        f"{tuning_dir()}/{{method}}.json",
    log:
        f"{RESULTS}/logs/tuning_choice/{{family}}/{{task}}-{{method}}.log",
    wildcard_constraints:
        method=r"[^/]+",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    script:
        "../scripts/tuning_choice.py"
