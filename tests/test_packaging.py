"""`pip install .` gives a working package: pyproject declares what the code imports, and the
package's top level is cheap to import and exposes the method's API."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata

from tests.conftest import REPO


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared_distributions() -> set[str]:
    """pyproject's dependencies and what they require in turn (e.g. snakemake's interfaces)."""
    declared = {requirement_name(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    indirect = {requirement_name(r) for name in declared for r in (metadata.requires(name) or []) if "extra ==" not in r}
    return declared | indirect


def imported_top_level_modules(folder):
    modules = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def test_pyproject_declares_every_distribution_the_package_imports():
    distributions = metadata.packages_distributions()
    third_party = {
        module for module in imported_top_level_modules(REPO / "autolora")
        if module not in sys.stdlib_module_names and module not in ("autolora", "__future__")
    }
    needed = {module: {d.lower().replace("_", "-") for d in distributions.get(module, [module])} for module in third_party}
    missing = {module: dists for module, dists in needed.items() if not dists & declared_distributions()}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"


def test_importing_the_package_is_cheap_and_its_api_loads_on_use():
    code = ("import sys, autolora; assert 'torch' not in sys.modules, 'import autolora loaded torch'; "
            "from autolora.core import extract_ranks; assert autolora.extract_ranks is extract_ranks; "
            "print(autolora.__version__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == metadata.version("autolora")


def test_unknown_attributes_are_an_attribute_error():
    import autolora

    try:
        autolora.no_such_thing
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("autolora.no_such_thing did not raise")


def test_the_method_core_imports_no_pipeline_stage():
    """autolora.core stands alone: beside itself, only the package's error types."""
    for path in (REPO / "autolora" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autolora"):
                assert node.module.startswith("autolora.core") or node.module == "autolora.errors", \
                    f"{path.name} imports {node.module}"


# The pipeline's stage modules (workflow/rules: one rule file per stage); what they share lives
# in lower layers: the task registry and the families' data and metrics (tasks, data, each
# family's data), models and adapters, training, checkpoints, metrics, the method registry, the core.
STAGES = {"stages.tokenize": "data", "stages.search": "search", "stages.ranks": "ranks",
          "stages.grid": "ranks and evaluate", "stages.tuning": "tuning", "stages.retrain": "retrain",
          "stages.evaluate": "evaluate",
          # The report stage is a package: it reads the records the stages wrote and imports none of them.
          **{f"reporting.{path.stem}": "report" for path in (REPO / "autolora" / "reporting").glob("*.py")
             if path.stem != "__init__"}}


def test_stage_modules_do_not_import_other_stages():
    for module, stage in STAGES.items():
        path = REPO / "autolora" / f"{module.replace('.', '/')}.py"
        imported = {name.removeprefix("autolora.") for name in _imported_modules(path)}
        crossing = {other for other in imported & set(STAGES) if STAGES[other] != stage}
        assert not crossing, f"autolora/{module}.py ({stage}) imports the stage modules {sorted(crossing)}"


def _imported_modules(path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def _family_files() -> dict[str, list]:
    """Each family package's files (every module of families/<name>/; a module families/<name>.py
    alone is one too)."""
    folder = REPO / "autolora" / "families"
    modules = {path.stem: [path] for path in folder.glob("*.py") if path.stem not in ("__init__", "base")}
    packages = {path.parent.name: sorted(path.parent.glob("*.py")) for path in folder.glob("*/__init__.py")}
    return {**modules, **packages}


def test_no_family_module_imports_another_family_or_a_stage():
    families = _family_files()
    assert {"glue", "data_to_text", "ner"} <= set(families)
    for name, paths in families.items():
        for path in paths:
            imported = {module.removeprefix("autolora.") for module in _imported_modules(path)}
            siblings = {module for module in imported for other in set(families) - {name}
                        if module == f"families.{other}" or module.startswith(f"families.{other}.")}
            stages = set(STAGES) & imported
            assert not siblings and not stages, f"{path.relative_to(REPO)} imports {sorted(siblings | stages)}"


def _family_and_task_names() -> set[str]:
    from autolora.families import all_families

    return {family.name for family in all_families()} | {spec.name for family in all_families()
                                                          for spec in family.tasks}


def test_stage_modules_hold_no_family_specific_branch():
    """The stages ask the family registry: no family or task name appears in their code."""
    names = _family_and_task_names()
    for module in ("stages/tokenize", "stages/search", "stages/grid", "stages/tuning", "stages/retrain",
                   "stages/evaluate", "model", "adapters"):
        tree = ast.parse((REPO / "autolora" / f"{module}.py").read_text())
        named = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)} & names
        assert not named, f"autolora/{module}.py names the families or tasks {sorted(named)}"


def test_the_report_stage_asks_the_registry_for_tables_labels_and_order():
    """No family or task name in the report stage's code: its package, its job scripts and the
    rules' shared functions (common.smk) take tables, titles, columns, labels and order from
    autolora.families."""
    names = _family_and_task_names()
    files = [*(REPO / "autolora" / "reporting").glob("*.py"), *(REPO / "workflow" / "scripts").glob("report_*.py"),
             REPO / "workflow" / "rules" / "common.smk", REPO / "workflow" / "rules" / "report.smk"]
    for path in files:
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())  # comments may explain
        quoted = set(re.findall(r"[\"']([a-z0-9_-]+)[\"']", code))
        assert not quoted & names, f"{path.relative_to(REPO)} names the families or tasks {sorted(quoted & names)}"


def test_every_stage_module_is_in_the_stage_map_and_the_plumbing_imports_no_higher_layer():
    stage_files = {f"stages.{path.stem}" for path in (REPO / "autolora" / "stages").glob("*.py")} - {"stages.__init__"}
    assert stage_files == {module for module in STAGES if module.startswith("stages.")}
    for path in (REPO / "autolora" / "plumbing").glob("*.py"):
        above = {name for name in _imported_modules(path) if name.startswith("autolora")
                 and not name.startswith(("autolora.errors", "autolora.plumbing"))}
        assert not above, f"plumbing/{path.name} imports {sorted(above)}"


# autolora's top level: the registries and the entry points; everything else sits in a folder
# named for its part of the pipeline (core, families, stages, reporting, scoring, plumbing).
TOP_LEVEL = {"adapters", "cli", "config", "data", "errors", "jobs", "methods", "metrics", "model", "own_task",
             "split_adapter", "tasks", "training", "trials"}
FOLDERS = {"core", "families", "stages", "reporting", "scoring", "plumbing"}


def test_the_top_level_holds_the_registries_and_entry_points_and_the_rest_is_in_folders():
    package = REPO / "autolora"
    assert {path.stem for path in package.glob("*.py")} - {"__init__"} == TOP_LEVEL
    assert FOLDERS <= {path.parent.name for path in package.glob("*/__init__.py")}


def test_the_folders_import_only_downwards():
    """Lower layers never import higher ones: no module outside the stages imports a stage; only
    the command line (cli) imports the reporting; the scorers import no pipeline part above them."""
    package = REPO / "autolora"
    for path in package.rglob("*.py"):
        folder = path.relative_to(package).parts[0] if len(path.relative_to(package).parts) > 1 else ""
        imported = {name.removeprefix("autolora.") for name in _imported_modules(path) if name.startswith("autolora.")}
        if folder != "stages":
            assert not {name for name in imported if name.startswith("stages")}, f"{path} imports a stage"
        if folder != "reporting" and path.stem != "cli":
            assert not {name for name in imported if name.startswith("reporting")}, f"{path} imports the reporting"
        if folder == "scoring":
            assert all(name.startswith(("scoring", "errors", "plumbing")) for name in imported), f"{path}: {imported}"
