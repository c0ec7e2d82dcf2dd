# Stage 5: reload the saved adapter and score the evaluation split (GLUE dev or the mirror's
# held-out split; E2E / WebNLG test by beam search and the official metrics; JNLPBA test).


rule evaluate:
    input:
        tokenized=tokenized_dir,
        prepared=prepared_dir,
        adapter=f"{job_dir()}/adapter",
        retrain_log=f"{job_dir()}/retrain.json",
        model=model_input,
    output:
        metrics=f"{job_dir()}/metrics.json",
        predictions=f"{job_dir()}/predictions.txt",
    log:
        f"{RESULTS}/logs/evaluate/{{family}}/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{family}}/{{task}}-seed{{seed}}.tsv"
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("evaluate"),
        gpu=gpus,
    params:
        cfg=stage_cfg("evaluate"),
    script:
        "../scripts/evaluate.py"
