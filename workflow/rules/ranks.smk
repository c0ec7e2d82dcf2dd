# Stage 3: rank of each adapted matrix = #{j : w_j ≥ λ}.


rule ranks:
    input:
        search=f"{job_dir()}/search.json",
    output:
        f"{job_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/ranks/{{family}}/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ranks/{{family}}/{{task}}-seed{{seed}}.tsv"
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=stage_cfg("ranks"),
    script:
        "../scripts/ranks.py"
