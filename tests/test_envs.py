"""The conda environment files pin exactly what CI installs with pip (conda channels are
unreachable here, so this comparison is how the env files are kept honest)."""

import re

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


@pytest.mark.parametrize("env_file", ["environment.yml", "workflow/envs/autolora.yaml"])
def test_env_file_pins_equal_the_ci_install(env_file):
    env = yaml.safe_load((REPO / env_file).read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    pins = pip_pins(pip_section)
    unpinned = [item for item in pip_section if "==" not in item and not item.startswith("-e")]
    assert not unpinned, f"{env_file}: unpinned {unpinned}"
    differing = {name: (version, CI_PINS.get(name)) for name, version in pins.items() if CI_PINS.get(name) != version}
    assert not differing, f"{env_file} vs CI pip pins: {differing}"
    assert "torch" in pins and "python=3.11" in env["dependencies"]


def test_every_rule_declares_its_conda_env():
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        text = rule_file.read_text()
        assert text.count("\nrule ") == text.count('conda:\n        "../envs/autolora.yaml"'), rule_file.name
