"""The conda environment files pin exactly what CI installs with pip (conda channels are
unreachable here, so this comparison is how the env files are kept honest)."""

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO


def pip_pins(lines):
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)\s*(#.*)?", line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


CI_PINS = pip_pins((REPO / "workflow/envs/requirements-cpu.txt").read_text().splitlines())
SETUP_LINES = (REPO / "workflow/scripts/setup-cpu-env.sh").read_text().splitlines()
CI_PINS |= pip_pins(pin for line in SETUP_LINES if "pip install" in line for pin in re.findall(r"[\w.-]+==[\w.+-]+", line))


ENV_FILES = ["environment.yml", "workflow/envs/autolora-cpu.yaml", "workflow/envs/autolora-cuda.yaml"]


def env_pip_section(env_file):
    env = yaml.safe_load((REPO / env_file).read_text())
    return env, next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))


@pytest.mark.parametrize("env_file", ENV_FILES)
def test_env_file_pins_equal_the_ci_install(env_file):
    env, pip_section = env_pip_section(env_file)
    # A local version label (+cpu) names the build, not a different release.
    pins = {name: version.split("+")[0] for name, version in pip_pins(pip_section).items()}
    # Options (-e .) and this repository's own packages (./workflow/plugins/...) need no pin.
    unpinned = [item for item in pip_section if "==" not in item and not item.startswith(("-", "./"))]
    assert not unpinned, f"{env_file}: unpinned {unpinned}"
    differing = {name: (version, CI_PINS.get(name)) for name, version in pins.items() if CI_PINS.get(name) != version}
    assert not differing, f"{env_file} vs CI pip pins: {differing}"
    assert "torch" in pins and "python=3.11" in env["dependencies"]


def test_the_main_env_and_the_set_up_install_the_console_logger_plugin():
    """The default profile selects it; Snakemake refuses to start without it."""
    plugin = "./workflow/plugins/snakemake-logger-plugin-autolora"
    _, pip_section = env_pip_section("environment.yml")
    assert plugin in pip_section
    assert any(line.endswith(plugin) and "pip install" in line for line in SETUP_LINES)
    assert "logger: [autolora]" in (REPO / "workflow/profiles/default/config.yaml").read_text()


def test_cpu_and_cuda_envs_differ_only_in_the_torch_build():
    _, cpu = env_pip_section("workflow/envs/autolora-cpu.yaml")
    _, cuda = env_pip_section("workflow/envs/autolora-cuda.yaml")
    assert "torch==2.13.0+cpu" in cpu and "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "torch==2.13.0" in cuda and not any(item.startswith("-") for item in cuda)
    assert set(cpu) - {"torch==2.13.0+cpu", "--extra-index-url https://download.pytorch.org/whl/cpu"} == set(cuda) - {
        "torch==2.13.0"
    }


def test_every_rule_declares_its_conda_env():
    """Jobs that may request a GPU pick their env through GPU_ENV; the others run on CPUs."""
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        for rule in rule_file.read_text().split("\nrule ")[1:]:
            name = rule.split(":")[0]
            expected = "GPU_ENV" if "**gpu_job(" in rule else '"../envs/autolora-cpu.yaml"'
            assert f"conda:\n        {expected}\n" in rule, f"{rule_file.name}: rule {name}"


@pytest.mark.parametrize(
    ("configfile", "envs"),
    [
        (None, {"autolora-cpu.yaml", "autolora-cuda.yaml"}),  # paper config: resources.gpus = 1
        ("config/cpu.yaml", {"autolora-cpu.yaml"}),
    ],
)
def test_gpu_jobs_deploy_the_cuda_env_only_when_gpus_are_requested(configfile, envs):
    """`snakemake --containerize` names every env the DAG's jobs use before it needs conda
    (which these machines lack, so the command itself then fails)."""
    command = [sys.executable, "-m", "snakemake", "--containerize"]
    if configfile:
        command += ["--configfile", configfile]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    hashed = set(re.findall(r"Hashing conda environment workflow/envs/(\S+)\.$", result.stderr + result.stdout, re.M))
    assert hashed == envs, result.stderr[-2000:]
