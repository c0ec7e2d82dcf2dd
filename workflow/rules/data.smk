# Stage 1: read each task from the hub or the local mirror into a normalised HF dataset
# (train + eval), tokenise it once per model (every seed and method reuses it), and convert
# packaged GGUF models to float32 once.


rule prepare:
    input:
        own_task_files,
    output:
        directory("resources/data/{task}/{tag}"),
    log:
        "resources/logs/prepare/{task}-{tag}.log",
    benchmark:
        "resources/benchmarks/prepare/{task}-{tag}.tsv"
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=runtime("data"),
    params:
        cfg=prepare_cfg,
    script:
        "../scripts/prepare.py"


rule convert_model:
    output:
        directory("resources/models/{model}"),
    log:
        "resources/logs/convert_model/{model}.log",
    benchmark:
        "resources/benchmarks/convert_model/{model}.tsv"
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=math.ceil(config["resources"]["data_minutes"]),
    params:
        name=lambda wildcards: next(
            name
            for name in {cfg(task)["model"]["name"] for task in TASKS}
            if slug(name) == wildcards.model
        ),
    script:
        "../scripts/convert_model.py"


rule tokenize:
    input:
        prepared=lambda wildcards: f"resources/data/{wildcards.task}/{wildcards.tag}",
        model=model_input,
    output:
        directory("resources/tokenized/{model}/{task}/{tag}"),
    log:
        "resources/logs/tokenize/{model}-{task}-{tag}.log",
    benchmark:
        "resources/benchmarks/tokenize/{model}-{task}-{tag}.tsv"
    conda:
        "../envs/autolora-cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=runtime("data"),
    params:
        cfg=stage_cfg("tokenize"),
    script:
        "../scripts/tokenize.py"
