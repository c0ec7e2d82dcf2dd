# Stage 3: rank of each adapted matrix = #{j : w_j ≥ λ}.


rule ranks:
    input:
        search=f"{RESULTS}/glue/{{task}}/seed{{seed}}/search.json",
    output:
        f"{RESULTS}/glue/{{task}}/seed{{seed}}/ranks.json",
    log:
        f"{RESULTS}/logs/ranks/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ranks/{{task}}-seed{{seed}}.tsv"
    localrule: True
    conda:
        "../envs/autolora.yaml"
    threads: 1
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    script:
        "../scripts/ranks.py"
