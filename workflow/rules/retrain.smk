# Stage 4: LoRA with the searched ranks (PEFT), on train = search-train + search-validation.


rule retrain:
    input:
        tokenized=tokenized_dir,
        ranks=f"{RESULTS}/glue/{{task}}/seed{{seed}}/ranks.json",
    output:
        adapter=directory(f"{RESULTS}/glue/{{task}}/seed{{seed}}/adapter"),
        log=f"{RESULTS}/glue/{{task}}/seed{{seed}}/retrain.json",
    log:
        f"{RESULTS}/logs/retrain/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/retrain/{{task}}-seed{{seed}}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/retrain.py"
