"""README.md is the entry point of a fresh machine: keep it true to the code and to CI."""

import re
from pathlib import Path

from scripts import settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_test_command_written_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^    (make \w+)$", readme, flags=re.MULTILINE)
    assert commands[:2] == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_readme_lists_every_environment_variable_with_its_default():
    assert settings_table.current_readme_table() == settings_table.table(), (
        "README's settings table is stale: run `python -m scripts.settings_table --write`"
    )
