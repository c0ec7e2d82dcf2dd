# Stage 2: bilevel search of the selection variables α (LoRA weights on search-train,
# α on search-validation; the evaluation split is never seen).


rule search:
    input:
        tokenized=tokenized_dir,
        model=model_input,
    output:
        f"{job_dir()}/search.json",
    log:
        f"{RESULTS}/logs/search/{{family}}/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/search/{{family}}/{{task}}-seed{{seed}}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/search.py"
