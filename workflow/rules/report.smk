# Stage 6: paper-style tables and figures, and the run's provenance.


rule report_glue:
    input:
        metrics=per_job("metrics.json"),
        ranks=per_job("ranks.json"),
        search=per_job("search.json"),
        prepared=[prepared_path(task) for task in TASKS],
    output:
        table=multiext(f"{RESULTS}/tables/glue", ".md", ".tex", ".csv"),
        ranks=report(
            f"{RESULTS}/figures/glue_ranks.png",
            caption="../report/glue_ranks.rst",
            category="GLUE",
        ),
        trajectories=report(
            f"{RESULTS}/figures/glue_alpha_trajectories.png",
            caption="../report/glue_alpha_trajectories.rst",
            category="GLUE",
        ),
        provenance=f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/report_glue.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_glue.tsv"
    localrule: True
    conda:
        "../envs/autolora.yaml"
    threads: 1
    params:
        cfg=config,
        tasks=TASKS,
        seeds=SEEDS,
        command=run_command(),
    script:
        "../scripts/report_glue.py"
