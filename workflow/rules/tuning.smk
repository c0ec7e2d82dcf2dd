# Stage 3½: tuning (config ``tuning``, autolora.stages.tuning), between the ranks and the
# retraining it sets up: a method's retraining settings are those of its best trial on the tuning
# seed's search-validation split. A trial is a method and an index (the ``trial`` wildcard,
# autolora.trials): the method with the trial's settings and its own ranks, trained on search-train
# (the retraining recipe) and scored on search-validation (the grid's scorer), in a folder
# ``tune_<method>_t<trial>`` of the tuning seed. Each round is a checkpoint: a ladder whose choice
# sits at an end of the rungs tried asks for one more rung on that side.


use rule retrain_method as retrain_trial with:
    input:
        tokenized=tokenized_dir,
        ranks=method_ranks,
        model=model_input,
    output:
        adapter=directory(f"{trial_dir()}/adapter"),
        log=f"{trial_dir()}/retrain.json",
    log:
        f"{RESULTS}/logs/{method_log('retrain', TRIAL_FOLDER)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('retrain', TRIAL_FOLDER)}.tsv"
    wildcard_constraints:
        method=TUNABLE_METHODS,
        trial=r"\d+",


use rule grid_validate as validate_trial with:
    input:
        tokenized=tokenized_dir,
        adapter=f"{trial_dir()}/adapter",
        model=model_input,
    output:
        f"{trial_dir()}/validation.json",
    log:
        f"{RESULTS}/logs/{method_log('evaluate', TRIAL_FOLDER)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('evaluate', TRIAL_FOLDER)}.tsv"
    wildcard_constraints:
        method=TUNABLE_METHODS,
        trial=r"\d+",


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
