# Stage 3: each method's ranks (autolora.methods: ``Method.ranks`` names the rule). AutoLoRA's
# and every searched method's: rank of each adapted matrix = #{j : w_j ≥ λ}, from their own
# search or, for the rank-rule ablations, AutoLoRA's.


rule ablation_ranks:
    input:
        search=ablation_search,
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=SEARCHED_RANK_METHODS,
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=stage_cfg("ranks"),
    script:
        "../scripts/ranks.py"


use rule ablation_ranks as ranks with:
    input:
        search=f"{job_dir()}/search.json",
    output:
        f"{job_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks', AUTOLORA)}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{method_log('ranks', AUTOLORA)}.tsv"


# One rank on every target module (LoRA r, the grid's candidates).
rule uniform_ranks:
    input:
        model=model_input,
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=UNIFORM_RANK_METHODS,
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=runtime("data"),
    params:
        cfg=stage_cfg("uniform_ranks"),
    script:
        "../scripts/uniform_ranks.py"


# AutoLoRA's total rank of the same task and seed, allocated without its search.
rule control_ranks:
    input:
        autolora=f"{job_dir()}/ranks.json",
    output:
        f"{method_dir()}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks')}.log",
    wildcard_constraints:
        method=CONTROL_METHODS,
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    params:
        cfg=stage_cfg("ranks"),
    script:
        "../scripts/control_ranks.py"


# The grid's rank: its best candidate on search-validation.
rule grid_choice:
    input:
        validation=expand(
            f"{method_dir()}/validation.json", method=GRID_RUNS, allow_missing=True
        ),
        ranks=expand(f"{method_dir()}/ranks.json", method=GRID_RUNS, allow_missing=True),
    output:
        f"{method_dir(method=GRID)}/ranks.json",
    log:
        f"{RESULTS}/logs/{method_log('ranks', GRID)}.log",
    localrule: True
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    script:
        "../scripts/grid_choice.py"
