"""The docs stay true to the committed files: every table spliced into README.md and docs/*.md
equals its committed table (autolora splice-tables), the splice and its check behave,
the README stays a short manual with both commands at the top, and config/README.md names every
key of the config schema."""

import re

import pytest
import yaml

from autolora.reporting import splice_tables
from tests.conftest import REPO

COMMANDS = ("bash workflow/scripts/setup-cpu-env.sh && bash workflow/scripts/run.sh --cores 2 --configfile config/cpu.yaml",
            "bash workflow/scripts/test.sh")




def committed_table(root, relative="results/reference/run/tables/glue.md", rows=("| a | 1 |",)):
    """A table file as the pipeline writes it: a caption, the table, a note."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Table: a caption.\n\n| method | score |\n| --- | :---: |\n" + "\n".join(rows) + "\n\nA note.\n")
    return path


def test_every_spliced_table_in_the_docs_equals_its_committed_table():
    files = splice_tables.default_files(REPO)
    assert REPO / "docs/results.md" in files
    blocks = [block for file in files for block in splice_tables.find_blocks(file, file.read_text().split("\n"))]
    assert len(blocks) >= 5, "docs/results.md splices the committed tables"
    stale = splice_tables.stale_blocks(files, REPO)
    assert not stale, "run `autolora splice-tables`: " + "; ".join(
        f"{block.file}:{block.line} {block.path}" for block in stale)


def test_splice_replaces_a_stale_block_with_the_table_lines_and_check_reports_it(tmp_path, capsys):
    committed_table(tmp_path)
    doc = tmp_path / "doc.md"
    doc.write_text("Intro.\n\n<!-- table: results/reference/run/tables/glue.md -->\n| old | 0 |\n<!-- /table -->\n\nEnd.\n")

    assert splice_tables.main(["--check", "--root", str(tmp_path), str(doc)]) == 1
    assert "doc.md:3: stale table block for results/reference/run/tables/glue.md" in capsys.readouterr().out
    assert "| old | 0 |" in doc.read_text()  # --check writes nothing

    assert splice_tables.main(["--root", str(tmp_path), str(doc)]) == 0
    assert doc.read_text() == ("Intro.\n\n<!-- table: results/reference/run/tables/glue.md -->\n"
                               "| method | score |\n| --- | :---: |\n| a | 1 |\n<!-- /table -->\n\nEnd.\n")
    assert splice_tables.main(["--check", "--root", str(tmp_path), str(doc)]) == 0

    committed_table(tmp_path, rows=("| a | 2 |",))  # the committed table changes: the block is stale again
    assert [block.line for block in splice_tables.stale_blocks([doc], tmp_path)] == [3]


@pytest.mark.parametrize(("marker", "message"), [
    ("<!-- table: results/reference/run/tables/missing.md -->\n<!-- /table -->",
     "doc.md:2: results/reference/run/tables/missing.md does not exist"),
    ("<!-- table: results/cpu/tables/glue.md -->\n<!-- /table -->",
     "doc.md:2: results/cpu/tables/glue.md is not a committed table under results/reference/"),
    ("<!-- table: results/reference/run/tables/glue.md -->\n| a |",
     "doc.md:2: <!-- table: results/reference/run/tables/glue.md --> is never closed"),
])
def test_a_block_that_cannot_be_spliced_names_file_and_line_and_nothing_is_written(tmp_path, capsys, marker, message):
    committed_table(tmp_path)
    doc = tmp_path / "doc.md"
    text = f"Intro.\n{marker}\n"
    doc.write_text(text)
    with pytest.raises(splice_tables.SpliceError, match=re.escape(message)):
        splice_tables.stale_blocks([doc], tmp_path)
    assert splice_tables.main(["--root", str(tmp_path), str(doc)]) == 2
    assert message in capsys.readouterr().err
    assert doc.read_text() == text


def test_the_readme_is_a_short_manual_with_both_commands_at_the_top():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    top = "\n".join(lines[:30])
    for command in COMMANDS:
        assert command in top


def schema_keys(node) -> set[str]:
    """Every property name of the config schema, at any depth."""
    if isinstance(node, dict):
        names = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) else set()
        return names | {key for value in node.values() for key in schema_keys(value)}
    if isinstance(node, list):
        return {key for value in node for key in schema_keys(value)}
    return set()


def test_the_config_readme_names_every_key_of_the_schema():
    schema = yaml.safe_load((REPO / "autolora/schemas/config.schema.yaml").read_text())
    spans = re.findall(r"`([^`]+)`", (REPO / "config/README.md").read_text())
    named = {part for span in spans for part in re.split(r"[^A-Za-z0-9_]+", span)}
    assert schema_keys(schema) - named == set()
