# Stage 1: read each task from the hub or the local mirror into a normalised HF dataset,
# then tokenise it once per model (every seed and method reuses it).


rule prepare_glue:
    output:
        directory("resources/data/glue/{task}/{tag}"),
    log:
        "resources/logs/prepare_glue/{task}-{tag}.log",
    benchmark:
        "resources/benchmarks/prepare_glue/{task}-{tag}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/prepare_glue.py"


rule tokenize:
    input:
        prepared=lambda wildcards: f"resources/data/glue/{wildcards.task}/{wildcards.tag}",
    output:
        directory("resources/tokenized/{model}/glue/{task}/{tag}"),
    log:
        "resources/logs/tokenize/{model}-{task}-{tag}.log",
    benchmark:
        "resources/benchmarks/tokenize/{model}-{task}-{tag}.tsv"
    conda:
        "../envs/autolora.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/tokenize.py"
