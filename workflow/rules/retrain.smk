# Stage 4: LoRA with the searched ranks (PEFT; GPT-2's split q/v by autolora.split_adapter),
# on train = search-train + search-validation.


rule retrain:
    input:
        tokenized=tokenized_dir,
        ranks=f"{job_dir()}/ranks.json",
        model=model_input,
    output:
        adapter=directory(f"{job_dir()}/adapter"),
        log=f"{job_dir()}/retrain.json",
    log:
        f"{RESULTS}/logs/retrain/{{family}}/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/retrain/{{family}}/{{task}}-seed{{seed}}.tsv"
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
