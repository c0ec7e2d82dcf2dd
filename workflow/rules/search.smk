# Stage 2: bilevel search of the selection variables α (LoRA weights on search-train,
# α on search-validation; the official dev set is never seen).


rule search:
    input:
        tokenized=tokenized_dir,
    output:
        f"{RESULTS}/glue/{{task}}/seed{{seed}}/search.json",
    log:
        f"{RESULTS}/logs/search/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/search/{{task}}-seed{{seed}}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/search.py"
