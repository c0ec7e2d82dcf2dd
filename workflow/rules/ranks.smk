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
    params:
        cfg=lambda wildcards: cfg(wildcards.task),
    threads: 1
    localrule: True
    conda:
        "../envs/autolora.yaml"
    script:
        "../scripts/ranks.py"
