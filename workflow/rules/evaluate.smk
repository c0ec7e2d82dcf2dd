# Stage 5: reload the saved adapter and score the evaluation split (GLUE dev, or the
# mirror's held-out split for QQP and MNLI).


rule evaluate:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        adapter=f"{RESULTS}/glue/{{task}}/seed{{seed}}/adapter",
        retrain_log=f"{RESULTS}/glue/{{task}}/seed{{seed}}/retrain.json",
    output:
        metrics=f"{RESULTS}/glue/{{task}}/seed{{seed}}/metrics.json",
        predictions=f"{RESULTS}/glue/{{task}}/seed{{seed}}/predictions.txt",
    log:
        f"{RESULTS}/logs/evaluate/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{task}}-seed{{seed}}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: config["threads"]
    resources:
        mem_mb=4000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/evaluate.py"
