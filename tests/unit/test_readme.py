"""The README's fresh-machine commands stay true: CI runs exactly the test command."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_readme_has_a_run_and_a_test_command():
    run, test = _readme_commands()
    assert run.startswith("bash scripts/setup.sh")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = _readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines
