"""The CI examples: valid YAML, every harness command in them parses, and the shards cover 1..N."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from httpboot_harness.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GITHUB = EXAMPLES / "github-sharded-matrix.yml"
GITLAB = EXAMPLES / "gitlab-ci-sharded.yml"


def commands(lines: list[str], values: dict[str, str]) -> list[list[str]]:
    """Each ``httpboot-harness`` command line, CI variables replaced by ``values``."""
    found = []
    for line in lines:
        if "httpboot-harness " not in line:
            continue
        command = line
        for variable, value in values.items():
            command = command.replace(variable, value)
        assert "${" not in command, f"an unreplaced variable in {command!r}"
        argv = shlex.split(command)
        program = next(a for a in argv if a.endswith("httpboot-harness"))
        found.append(argv[argv.index(program) + 1 :])
    return found


def run_lines(document: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for job in document["jobs"].values():
        for step in job["steps"]:
            lines += str(step.get("run", "")).splitlines()
    return lines


def test_the_github_workflow_shards_the_matrix_and_merges_every_shard() -> None:
    document = yaml.safe_load(GITHUB.read_text())
    shards = document["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert document["jobs"]["merge"]["needs"] == "shard"
    found = commands(run_lines(document), {"${{ matrix.shard }}": "1"})
    matrix = next(c for c in found if c[0] == "matrix")
    total = int(re.sub(r".*/", "", matrix[matrix.index("--shard") + 1]))
    assert shards == list(range(1, total + 1))
    for argv in found:
        build_parser().parse_args(argv)
    assert any(c[:2] == ["report", "merge"] and "--html" in c for c in found)


def test_the_gitlab_pipeline_uses_parallel_node_numbers_as_the_shard() -> None:
    document = yaml.safe_load(GITLAB.read_text())
    boot, report = document["boot"], document["report"]
    assert isinstance(boot["parallel"], int)
    assert report["needs"] == ["boot"]
    assert report["artifacts"]["reports"]["junit"] == "artifacts/report.xml"
    lines = [*boot["script"], *report["script"]]
    assert any("--shard ${CI_NODE_INDEX}/${CI_NODE_TOTAL}" in line for line in lines)
    variables = {"${CI_NODE_INDEX}": "2", "${CI_NODE_TOTAL}": str(boot["parallel"])}
    found = commands(lines, variables)
    assert {c[0] for c in found} == {"matrix", "report"}
    for argv in found:
        build_parser().parse_args(argv)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_every_yaml_example_parses(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)
