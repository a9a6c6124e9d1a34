"""Where the task graph comes from: a Beads export, a YAML task file, or the `bd` command.

The `bd` tests run a fake `bd` (a shell script first on PATH) that prints a recorded
`bd list --json --all -n 0` output from tests/data/bd_list.json, so they need no Beads install,
but wtpool still finds it on PATH, runs it as a process and reads its real exit code and output.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, snapshot, wtpool
from tests.tasks.test_graph import FIXTURES, needs_fixtures
from worktree_pool.config.settings import TaskSettings
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.tasks.sources import BD_LIST, load_task_graph, parse_bd_list, read_bd, read_beads

DATA = Path(__file__).resolve().parents[1] / "data"
BD_OUTPUT = DATA / "bd_list.json"
BD_COMMAND = " ".join(BD_LIST)


# --- helpers --------------------------------------------------------------------------------


def _issue(id: str, status: str = "open", blocks_on: tuple[str, ...] = (), **extra: object) -> dict:
    return {
        "id": id,
        "title": f"title of {id}",
        "status": status,
        "priority": 2,
        "issue_type": "task",
        "dependencies": [
            {"issue_id": id, "depends_on_id": target, "type": "blocks"} for target in blocks_on
        ],
        **extra,
    }


def _write_lines(path: Path, *records: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(root: Path, text: str) -> None:
    (root / "wtpool.yaml").write_text(text)


def _analyze(root: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = wtpool(root, "tracks", "analyze", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _task_ids(analysis: dict) -> list[str]:
    return [task["id"] for track in analysis["tracks"] for task in track["tasks"]]


def _git_only_dir(tmp_path: Path) -> Path:
    """A directory holding only `git`: a PATH made of it has git and certainly no bd."""
    real_git = shutil.which("git")
    assert real_git is not None, "the tests need git on PATH"
    directory = tmp_path / "git-only-bin"
    directory.mkdir()
    (directory / "git").symlink_to(real_git)
    return directory


def _fake_bd(tmp_path: Path, body: str) -> dict[str, str]:
    """An environment whose PATH has a `bd` running `body` (sh), then git, and nothing else."""
    directory = tmp_path / "fake-bd-bin"
    directory.mkdir()
    script = directory / "bd"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {"PATH": os.pathsep.join([str(directory), str(_git_only_dir(tmp_path))])}


def _recorded_bd(tmp_path: Path, output: Path = BD_OUTPUT) -> dict[str, str]:
    """A `bd` that prints `output`, and only when called exactly as wtpool must call it."""
    cat = shutil.which("cat")
    assert cat is not None
    return _fake_bd(
        tmp_path,
        'if [ "$#" -ne 5 ] || [ "$1" != list ] || [ "$2" != --json ] || [ "$3" != --all ] '
        '|| [ "$4" != -n ] || [ "$5" != 0 ]; then\n'
        '  echo "fake bd: unexpected arguments: $*" >&2\n'
        "  exit 1\n"
        "fi\n"
        f"exec '{cat}' '{output}'",
    )


def _bd_repo(repo: Path) -> Path:
    _config(repo, "tasks:\n  source: bd\n")
    return repo


# --- beads exports --------------------------------------------------------------------------


def test_beads_reads_issues_jsonl_before_beads_jsonl(repo: Path) -> None:
    _write_lines(repo / ".beads" / "issues.jsonl", _issue("from-issues"))
    _write_lines(repo / ".beads" / "beads.jsonl", _issue("from-beads"))
    analysis = _analyze(repo)
    assert analysis["source"] == str(repo.resolve() / ".beads" / "issues.jsonl")
    assert _task_ids(analysis) == ["from-issues"]


def test_beads_falls_back_to_the_older_beads_jsonl(repo: Path) -> None:
    _write_lines(repo / ".beads" / "beads.jsonl", _issue("old"), _issue("older", "closed"))
    analysis = _analyze(repo)
    assert analysis["source"] == str(repo.resolve() / ".beads" / "beads.jsonl")
    assert analysis["tasks"] == 2 and _task_ids(analysis) == ["old"]


def test_tasks_path_overrides_the_default_beads_files(repo: Path) -> None:
    _write_lines(repo / ".beads" / "issues.jsonl", _issue("default-file"))
    _write_lines(repo / "work" / "issues.jsonl", _issue("configured"), _issue("second"))
    _config(repo, "tasks:\n  path: work/issues.jsonl\n")
    analysis = _analyze(repo)
    assert analysis["source"] == str(repo.resolve() / "work" / "issues.jsonl")
    assert sorted(_task_ids(analysis)) == ["configured", "second"]


def test_labels_that_are_not_a_list_make_the_record_malformed(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "issues.jsonl", _issue("x", labels="files:src/api/"))
    with pytest.raises(WtpoolError) as caught:
        read_beads(path)
    assert caught.value.message.startswith(f"{path}:1: malformed task record")


def test_a_configured_path_that_is_missing_is_not_replaced_by_a_default(repo: Path) -> None:
    _write_lines(repo / ".beads" / "issues.jsonl", _issue("default-file"))
    _config(repo, "tasks:\n  path: work/issues.jsonl\n")
    result = wtpool(repo, "tracks", "analyze", "--json")
    assert_one_line_error(result, 2, "no task file: looked for work/issues.jsonl in")
    assert ".beads" not in result.stderr.splitlines()[0]


def test_without_a_task_file_analyze_names_the_paths_it_looked_for(repo: Path) -> None:
    before = snapshot(repo)
    result = wtpool(repo, "tracks", "analyze", "--json")
    assert_one_line_error(result, 2, "no task file")
    first = result.stderr.splitlines()[0]
    assert ".beads/issues.jsonl" in first and ".beads/beads.jsonl" in first
    assert str(repo.resolve()) in first
    assert snapshot(repo) == before


def test_load_task_graph_reads_the_configured_beads_file(repo: Path) -> None:
    _write_lines(
        repo / "work" / "issues.jsonl", _issue("a"), _issue("b", blocks_on=("a",)), _issue("c")
    )
    graph = load_task_graph(repo, TaskSettings(path="work/issues.jsonl"))
    assert graph.source == str(repo / "work" / "issues.jsonl")
    assert list(graph.tasks) == ["a", "b", "c"] and graph.ready() == ["a", "c"]
    with pytest.raises(WtpoolError) as caught:
        load_task_graph(repo, TaskSettings())
    assert caught.value.code == ExitCode.USAGE and "no task file" in caught.value.message


# --- YAML task files ------------------------------------------------------------------------

TASKS_YAML = """\
tasks:
  - id: api
    title: The API
    priority: 1
    files: [src/api/]
  - id: api-docs
    title: Document the API
    depends_on: [api]
    files: [docs/api.md]
  - id: cli
    title: The CLI
    files: [src/cli/]
  - id: shipped
    status: closed
"""


def test_yaml_source_reads_tasks_yaml_and_ignores_beads_files(repo: Path) -> None:
    _write_lines(repo / ".beads" / "issues.jsonl", _issue("from-beads"))
    (repo / "tasks.yaml").write_text(TASKS_YAML)
    _config(repo, "tasks:\n  source: yaml\n")
    analysis = _analyze(repo)
    assert analysis["source"] == str(repo.resolve() / "tasks.yaml")
    assert analysis["tasks"] == 4 and analysis["ready"] == 2
    tracks = {track["id"]: track for track in analysis["tracks"]}
    assert list(tracks) == ["track:api", "track:cli"]
    assert [t["id"] for t in tracks["track:api"]["tasks"]] == ["api", "api-docs"]
    assert tracks["track:api"]["ready"] == ["api"]
    assert tracks["track:api"]["patterns"] == ["src/api/", "docs/api.md"]
    assert tracks["track:cli"]["ready"] == ["cli"]


def test_yaml_source_with_a_configured_path(repo: Path) -> None:
    (repo / "plan").mkdir()
    (repo / "plan" / "work.yaml").write_text(TASKS_YAML)
    _config(repo, "tasks:\n  source: yaml\n  path: plan/work.yaml\n")
    analysis = _analyze(repo)
    assert analysis["source"] == str(repo.resolve() / "plan" / "work.yaml")
    assert sorted(_task_ids(analysis)) == ["api", "api-docs", "cli"]


def test_yaml_source_without_tasks_yaml_names_it(repo: Path) -> None:
    _write_lines(repo / ".beads" / "issues.jsonl", _issue("from-beads"))
    _config(repo, "tasks:\n  source: yaml\n")
    result = wtpool(repo, "tracks", "analyze")
    assert_one_line_error(result, 2, "no task file: looked for tasks.yaml in")


def test_an_invalid_yaml_task_file_names_the_file_and_line(repo: Path) -> None:
    (repo / "tasks.yaml").write_text("tasks:\n  - id: a\n  - id: [b\n")
    _config(repo, "tasks:\n  source: yaml\n")
    result = wtpool(repo, "tracks", "analyze", "--json")
    assert_one_line_error(result, 2, f"{repo.resolve() / 'tasks.yaml'}: invalid YAML at line")


@pytest.mark.parametrize("entry", ["[b, c]", "{id: b}", "null"])
def test_a_depends_on_entry_that_is_not_an_id_is_refused(repo: Path, entry: str) -> None:
    (repo / "tasks.yaml").write_text(
        f"tasks:\n  - id: a\n    depends_on: [{entry}]\n  - id: b\n  - id: c\n"
    )
    _config(repo, "tasks:\n  source: yaml\n")
    result = wtpool(repo, "tracks", "analyze", "--json")
    assert_one_line_error(result, 2, "task 1: depends_on")


def test_integer_ids_in_depends_on_name_integer_task_ids(repo: Path) -> None:
    (repo / "tasks.yaml").write_text(
        "tasks:\n  - id: 1\n  - id: 2\n    depends_on: [1]\n  - id: 3\n    depends_on: [9]\n"
    )
    _config(repo, "tasks:\n  source: yaml\n")
    analysis = _analyze(repo)
    assert analysis["ready"] == 2  # 1, and 3 whose blocker is not in the file
    assert [t["id"] for t in analysis["tracks"][0]["tasks"]] == ["1", "2"]
    assert analysis["dangling"] == [{"task": "3", "target": "9", "kind": "blocks"}]


# --- the bd command -------------------------------------------------------------------------


def test_the_recorded_bd_output_parses_with_nanosecond_timestamps_and_count_fields() -> None:
    graph = parse_bd_list(BD_OUTPUT.read_text(), "recorded", lenient=False)
    assert list(graph.tasks) == [f"wp-{n}" for n in range(1, 8)]
    assert graph.warnings == []
    created = graph.tasks["wp-1"].created_at
    assert created is not None and created.utcoffset().total_seconds() == 10 * 3600
    assert created.microsecond == 405631  # nanoseconds are cut to what datetime holds
    assert graph.tasks["wp-2"].parents == ("wp-1",)
    assert graph.ready() == ["wp-2", "wp-4", "wp-6"]


def test_bd_source_runs_bd_list_and_builds_tracks(repo: Path, tmp_path: Path) -> None:
    analysis = _analyze(_bd_repo(repo), env=_recorded_bd(tmp_path))
    assert analysis["source"] == f"`{BD_COMMAND}`"
    assert analysis["tasks"] == 7 and analysis["ready"] == 3
    assert analysis["warnings"] == [] and analysis["dangling"] == []
    tracks = {track["id"]: track for track in analysis["tracks"]}
    # best priority first, then by id; wp-6's `related` edge to wp-4 does not join them
    assert list(tracks) == ["track:wp-1", "track:wp-6", "track:wp-7", "track:wp-4"]
    epic = tracks["track:wp-1"]
    assert [t["id"] for t in epic["tasks"]] == ["wp-1", "wp-2", "wp-3"]
    assert epic["ready"] == ["wp-2"] and epic["priority"] == 1
    statuses = {t["id"]: (t["status"], t["ready"]) for t in epic["tasks"]}
    assert statuses == {
        "wp-1": ("open", False),  # an epic is a container, not work
        "wp-2": ("open", True),  # its parent is open but not blocked
        "wp-3": ("open", False),  # blocked by wp-2
    }
    assert tracks["track:wp-6"]["ready"] == ["wp-6"]  # its blocker wp-5 is closed
    assert tracks["track:wp-7"]["ready"] == []  # in progress
    assert tracks["track:wp-4"]["ready"] == ["wp-4"]
    assert tracks["track:wp-4"]["patterns"] == ["docs/"]
    assert tracks["track:wp-4"]["tasks"][0]["scope_source"] == "labels"
    assert "wp-5" not in _task_ids(analysis)  # closed work is in no track


def test_bd_is_run_in_the_repository_root_even_from_a_subdirectory(
    repo: Path, tmp_path: Path
) -> None:
    cat = shutil.which("cat")
    env = _fake_bd(
        tmp_path,
        f'[ -f wtpool.yaml ] || {{ echo "not run at the root: $PWD" >&2; exit 4; }}\n'
        f"exec '{cat}' '{BD_OUTPUT}'",
    )
    analysis = _analyze(_bd_repo(repo) / "src", env=env)
    assert analysis["tasks"] == 7


def test_read_bd_in_process_runs_the_fake(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _recorded_bd(tmp_path)["PATH"])
    graph = read_bd(repo, timeout=60)
    assert graph.ready() == ["wp-2", "wp-4", "wp-6"]
    same = load_task_graph(repo, TaskSettings(source="bd"), timeout=60)
    assert same.tasks == graph.tasks


def test_a_failing_bd_gives_exit_1_with_its_message(repo: Path, tmp_path: Path) -> None:
    env = _fake_bd(tmp_path, "echo 'starting up' >&2\necho 'Error: database is locked' >&2\nexit 3")
    result = wtpool(_bd_repo(repo), "tracks", "analyze", "--json", env=env)
    assert_one_line_error(result, 1, f"`{BD_COMMAND}` failed with exit code 3")
    assert "Error: database is locked" in result.stderr.splitlines()[0]


def test_bd_called_with_other_arguments_is_refused_by_the_fake(tmp_path: Path) -> None:
    """The fake itself must be able to fail, or the exact-arguments check proves nothing."""
    env = _recorded_bd(tmp_path)
    bd = Path(env["PATH"].split(os.pathsep)[0]) / "bd"
    wrong = subprocess.run([bd, "list", "--json"], capture_output=True, text=True, env=env)
    assert wrong.returncode == 1 and "unexpected arguments" in wrong.stderr
    right = subprocess.run([bd, *BD_LIST[1:]], capture_output=True, text=True, env=env)
    assert right.returncode == 0 and json.loads(right.stdout)[0]["id"] == "wp-1"


def test_bd_not_on_path_gives_exit_2(repo: Path, tmp_path: Path) -> None:
    env = {"PATH": str(_git_only_dir(tmp_path))}
    _bd_repo(repo)
    before = snapshot(repo)
    result = wtpool(repo, "tracks", "analyze", "--json", env=env)
    assert_one_line_error(result, 2, "the bd command is not on PATH")
    assert snapshot(repo) == before


def test_bd_printing_something_that_is_not_json_is_one_line_error(
    repo: Path, tmp_path: Path
) -> None:
    env = _fake_bd(tmp_path, "echo 'Found 7 issues:'\necho '  wp-1 [P1] Auth overhaul'")
    result = wtpool(_bd_repo(repo), "tracks", "analyze", "--json", env=env)
    assert_one_line_error(result, 1, f"`{BD_COMMAND}` printed something that is not JSON")


def test_bd_printing_a_json_object_instead_of_a_list_is_refused(repo: Path, tmp_path: Path) -> None:
    env = _fake_bd(tmp_path, "echo '{\"issues\": []}'")
    result = wtpool(_bd_repo(repo), "tracks", "analyze", "--json", env=env)
    assert_one_line_error(result, 1, "printed JSON that is not a list of issues")


def test_bd_giving_counts_without_dependencies_is_warned_about(repo: Path, tmp_path: Path) -> None:
    records = json.loads(BD_OUTPUT.read_text())
    for record in records:
        record.pop("dependencies", None)
        record.pop("parent", None)
    counts_only = tmp_path / "counts_only.json"
    counts_only.write_text(json.dumps(records))
    analysis = _analyze(_bd_repo(repo), env=_recorded_bd(tmp_path, counts_only))
    (warning,) = analysis["warnings"]
    assert "gave dependency counts but not the dependencies of 3 issue(s)" in warning
    assert "wp-2" in warning  # the first such issue
    # Without the edges every unfinished task looks independent: that is why it warns.
    assert len(analysis["tracks"]) == 6


def test_a_malformed_bd_record_is_refused_unless_lenient(repo: Path, tmp_path: Path) -> None:
    records = json.loads(BD_OUTPUT.read_text())
    records[2]["priority"] = "P1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    env = _recorded_bd(tmp_path, bad)
    result = wtpool(_bd_repo(repo), "tracks", "analyze", "--json", env=env)
    assert_one_line_error(result, 2, f"`{BD_COMMAND}`:3: malformed task record")
    analysis = _analyze(repo, "--lenient", env=env)
    assert "wp-3" not in _task_ids(analysis)
    assert [w.split(": ")[0] for w in analysis["warnings"]] == [f"`{BD_COMMAND}`:3"]


def test_parse_bd_list_of_nothing_is_an_empty_graph() -> None:
    for text in ("", "[]\n"):
        graph = parse_bd_list(text, "bd", lenient=False)
        assert graph.tasks == {} and graph.warnings == []


# --- --lenient ------------------------------------------------------------------------------


def _export_with_a_bad_line(repo: Path) -> Path:
    return _write_lines(
        repo / ".beads" / "issues.jsonl",
        _issue("first"),
        _issue("second", blocks_on=("first",)),
        '{"id": "broken", "title": ',
        _issue("third"),
    )


def test_a_malformed_line_stops_analyze_with_its_file_and_line(repo: Path) -> None:
    path = _export_with_a_bad_line(repo).resolve()
    result = wtpool(repo, "tracks", "analyze")
    assert_one_line_error(result, 2, f"error: {path}:3: malformed task record")
    assert result.stderr.splitlines()[0].startswith(f"error: {path}:3: malformed task record")
    assert "--lenient" in result.stderr.splitlines()[1]


def test_lenient_skips_the_malformed_line_and_names_it_in_warnings(repo: Path) -> None:
    path = _export_with_a_bad_line(repo).resolve()
    analysis = _analyze(repo, "--lenient")
    assert sorted(_task_ids(analysis)) == ["first", "second", "third"]
    (warning,) = analysis["warnings"]
    assert warning.startswith(f"{path}:3: malformed task record")


@pytest.mark.parametrize("command", [["recommend"], ["conflicts"]])
def test_the_other_tracks_commands_take_lenient_too(repo: Path, command: list[str]) -> None:
    path = _export_with_a_bad_line(repo).resolve()
    strict = wtpool(repo, "tracks", *command, "--json")
    assert_one_line_error(strict, 2, f"{path}:3: malformed task record")
    lenient = wtpool(repo, "tracks", *command, "--json", "--lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert any(w.startswith(f"{path}:3:") for w in json.loads(lenient.stdout)["warnings"])


def test_lenient_does_not_hide_a_missing_task_file(repo: Path) -> None:
    result = wtpool(repo, "tracks", "analyze", "--lenient")
    assert_one_line_error(result, 2, "no task file")


# --- real exports ---------------------------------------------------------------------------


def _issues(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("_type", "issue") == "issue"]


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")) or ["none"])
def test_analyze_of_a_real_export_lists_every_unfinished_task_once(repo: Path, name: str) -> None:
    (repo / ".beads").mkdir()
    shutil.copyfile(FIXTURES / name, repo / ".beads" / "issues.jsonl")
    analysis = _analyze(repo)
    listed = _task_ids(analysis)
    assert len(listed) == len(set(listed)), "a task is in two tracks"
    issues = _issues(FIXTURES / name)
    unfinished = {r["id"] for r in issues if r["status"] not in ("closed", "tombstone")}
    assert set(listed) == unfinished
    assert analysis["warnings"] == []
    ready = {t["id"] for track in analysis["tracks"] for t in track["tasks"] if t["ready"]}
    assert len(ready) == analysis["ready"] > 0
    if name == "beads_steveyegge_beads.jsonl":
        assert len(analysis["dangling"]) == 30  # SOURCES.md: 30 edges to ids not in the file
        in_file = {r["id"] for r in issues}
        assert all(ref["target"] not in in_file for ref in analysis["dangling"])
