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
