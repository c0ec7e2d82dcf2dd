# Stage 2: bilevel search of the selection variables α (LoRA weights on search-train,
# α on search-validation; the evaluation split is never seen).

# The no_retrain ablation evaluates the search model itself, so only then does the search also
# save its trained state (a declared output always would send committed runs searching again).
SEARCH_STATE = (
    {"state": f"{job_dir()}/search_state.safetensors"}
    if "no_retrain" in config["ablations"]
    else {}
)


rule search:
    input:
        tokenized=tokenized_dir,
        model=model_input,
    output:
        **SEARCH_STATE,
        record=f"{job_dir()}/search.json",
    log:
        f"{RESULTS}/logs/search/{{family}}/{{task}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/search/{{family}}/{{task}}-seed{{seed}}.tsv"
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=runtime("search"),
        gpu=gpus,
    params:
        cfg=stage_cfg("search"),
    script:
        "../scripts/search.py"
