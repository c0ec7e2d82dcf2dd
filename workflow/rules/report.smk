# Stage 6: paper-style tables and figures, and the run's provenance.


rule report_table:
    input:
        metrics=lambda wildcards: method_jobs(
            "metrics.json", table_tasks(wildcards.table)
        ),
        # A shared table (GLUE's) marks differences as the differences table decides them.
        labels=lambda wildcards: (
            label_files(table_tasks(wildcards.table))
            if marks_differences(wildcards.table)
            else []
        ),
        predictions=lambda wildcards: (
            method_jobs("predictions.txt", table_tasks(wildcards.table))
            if marks_differences(wildcards.table)
            else []
        ),
    output:
        md=table_output("{table}", "md", "table"),
        tex=table_output("{table}", "tex", "table"),
        csv=table_output("{table}", "csv", "table"),
    log:
        f"{RESULTS}/logs/report_table/{{table}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_table/{{table}}.tsv"
    wildcard_constraints:
        table="|".join(tables()),
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=config,
        tasks=lambda wildcards: table_tasks(wildcards.table),
        seeds=SEEDS,
        command=run_command(),
    script:
        "../scripts/report_table.py"


# AutoLoRA minus each baseline, per task, with intervals (autolora.reporting.differences).
rule report_differences:
    input:
        metrics=method_jobs("metrics.json"),
        labels=label_files(TASKS),
        predictions=method_jobs("predictions.txt"),
    output:
        md=table_output("differences", "md", "differences"),
        tex=table_output("differences", "tex", "differences"),
        csv=table_output("differences", "csv", "differences"),
        figure=report(
            f"{RESULTS}/figures/differences.png",
            caption="../report/differences.rst",
            category="tables",
        ),
    log:
        f"{RESULTS}/logs/report_differences.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_differences.tsv"
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        run=config["run"],
        config_hash=config_hash(config)[:12],
        tasks=TASKS,
        seeds=SEEDS,
    script:
        "../scripts/report_differences.py"


# A task's evaluation labels in predictions.txt's order, where its family can rescore per example.
rule eval_labels:
    input:
        tokenized=lambda wildcards: tokenized_dir(
            SimpleNamespace(task=wildcards.task, seed=SEEDS[0])
        ),
    output:
        f"{RESULTS}/{{family}}/{{task}}/{LABELS_FILE}",
    log:
        f"{RESULTS}/logs/eval_labels/{{family}}/{{task}}.log",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    script:
        "../scripts/eval_labels.py"


rule report_cost:
    input:
        benchmarks=[record["path"] for record in cost_records()],
        metrics=method_jobs("metrics.json"),
    output:
        md=table_output("cost", "md", "cost"),
        tex=table_output("cost", "tex", "cost"),
        csv=table_output("cost", "csv", "cost"),
        figure=report(
            f"{RESULTS}/figures/quality_cost.png",
            caption="../report/quality_cost.rst",
            category="cost",
        ),
    log:
        f"{RESULTS}/logs/report_cost.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_cost.tsv"
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=config,
        records=cost_records(),
        grid_runs=[*GRID_RUNS, GRID] if GRID in config["methods"] else [],
        seeds=SEEDS,
    script:
        "../scripts/report_cost.py"


rule report_figures:
    input:
        ranks=lambda wildcards: per_job("ranks.json", tasks_of(wildcards.family, TASKS)),
        search=lambda wildcards: per_job(
            "search.json", tasks_of(wildcards.family, TASKS)
        ),
    output:
        ranks=report(
            f"{RESULTS}/figures/{{family}}_ranks.png",
            caption="../report/ranks.rst",
            category="{family}",
        ),
        trajectories=report(
            f"{RESULTS}/figures/{{family}}_alpha_trajectories.png",
            caption="../report/alpha_trajectories.rst",
            category="{family}",
        ),
    log:
        f"{RESULTS}/logs/report_figures/{{family}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_figures/{{family}}.tsv"
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    script:
        "../scripts/report_figures.py"


rule report_rank_stability:
    input:
        searches=[record["path"] for record in search_records()],
        controls=[record["path"] for record in control_records()],
    output:
        md=table_output("rank_stability", "md", "rank_stability"),
        tex=table_output("rank_stability", "tex", "rank_stability"),
        csv=table_output("rank_stability", "csv", "rank_stability"),
    log:
        f"{RESULTS}/logs/report_rank_stability.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_rank_stability.tsv"
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        run=config["run"],  # only what it reads: a config change elsewhere reruns nothing here
        records=search_records(),
        controls=control_records(),
        variants=config["search_variants"],
        seeds=SEEDS,
    script:
        "../scripts/report_rank_stability.py"


rule provenance:
    input:
        prepared=[
            prepared_path(task, seed) for task in TASKS for seed in data_seeds(task)
        ],
        tables=expand(f"{RESULTS}/tables/{{table}}.csv", table=tables()),
    output:
        f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/provenance.log",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=config,
        datasets=[
            task if len(data_seeds(task)) == 1 else f"{task}/seed{seed}"
            for task in TASKS
            for seed in data_seeds(task)
        ],
        command=run_command(),
    script:
        "../scripts/provenance.py"
