# Stage 2: bilevel search of the selection variables α (LoRA weights on search-train,
# α on search-validation; the evaluation split is never seen). One rule for every method with a
# search of its own (autolora.methods: the search ablations, the config's search variants) in
# its method folder; AutoLoRA's own search, the same rule, writes to the job folder.

# The no_retrain ablation evaluates the search model itself, so only then does the search also
# save its trained state (a declared output always would send committed runs searching again).
SEARCH_STATE = (
    {"state": f"{job_dir()}/search_state.safetensors"}
    if "no_retrain" in config["ablations"]
    else {}
)


rule search_variant:
    input:
        tokenized=tokenized_dir,
        model=model_input,
    output:
        record=f"{method_dir()}/search.json",
    log:
        f"{RESULTS}/logs/{method_log('search')}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('search')}.tsv"
    wildcard_constraints:
        method=OWN_SEARCH_METHODS,
    conda:
        GPU_ENV
    threads: config["threads"]
    resources:
        **gpu_job("search"),
    params:
        cfg=stage_cfg("search"),
    script:
        "../scripts/search.py"


use rule search_variant as search with:
    output:
        **SEARCH_STATE,
        record=f"{job_dir()}/search.json",
    log:
        f"{RESULTS}/logs/{method_log('search', AUTOLORA)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('search', AUTOLORA)}.tsv"
