from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Pool, assert_one_line_error, snapshot, wtpool
from worktree_pool.config.display import render_config
from worktree_pool.config.loader import load_config
from worktree_pool.config.settings import Config, CopyRule, PoolSettings, ScopeRule, TimeoutSettings
from worktree_pool.errors import ExitCode, WtpoolError

COMMITTED_DEFAULTS = Path(__file__).resolve().parents[2] / "config" / "wtpool.yaml"


def test_committed_config_file_is_the_builtin_defaults() -> None:
    assert load_config(COMMITTED_DEFAULTS) == Config()
    # The text too, so that the comments documenting each key cannot drift either.
    assert COMMITTED_DEFAULTS.read_text() == render_config(Config())


def test_every_key_has_a_comment() -> None:
    lines = render_config(Config()).splitlines()
    keys = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    assert keys, "no keys rendered"
    for index in keys:
        assert lines[index - 1].lstrip().startswith("#"), f"no comment above {lines[index]!r}"


@given(
    minimum=st.integers(1, 64),
    extra=st.integers(0, 63),
    base=st.none() | st.from_regex(r"[a-z][a-z0-9/_-]{0,20}", fullmatch=True),
    clean=st.booleans(),
    git_timeout=st.floats(0.5, 10_000, allow_nan=False),
)
def test_any_valid_config_survives_a_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    minimum: int,
    extra: int,
    base: str | None,
    clean: bool,
    git_timeout: float,
) -> None:
    config = Config(
        pool=PoolSettings(
            min=minimum, max=min(64, minimum + extra), base=base, clean_ignored=clean
        ),
        timeouts=TimeoutSettings(git=git_timeout),
    )
    path = tmp_path_factory.mktemp("cfg") / "wtpool.yaml"
    path.write_text(render_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("pool:\n  maxx: 3\n", ["unknown key pool.maxx"]),
        ("pools: {}\n", ["unknown key pools"]),
        ("pool:\n  max: ten\n", ["pool.max", "an integer", "'ten'"]),
        ("pool:\n  min: true\n", ["pool.min", "an integer"]),
        ("pool:\n  clean_ignored: 1\n", ["pool.clean_ignored", "true or false"]),
        ("pool:\n  base: 7\n", ["pool.base", "a string or null"]),
        ("timeouts:\n  git: soon\n", ["timeouts.git", "a number"]),
        ("pool: 5\n", ["pool must be a mapping"]),
        ("- a\n- b\n", ["the top level must be a mapping"]),
        ("pool:\n  min: 5\n  max: 2\n", ["minimum 5 is above the maximum 2"]),
        ("pool: [unclosed\n", ["invalid YAML at line"]),
        ("pool:\n  min: 3\n  min: 4\n", ["line 3", "key 'min' is given twice"]),
        # An anchor: read by the loader that counts aliases (libyaml reads the rest).
        ("pool: &p\n  min: 3\n  min: 4\n", ["line 3", "key 'min' is given twice"]),
        ("pool: &p [unclosed\n", ["invalid YAML at line"]),
    ],
)
def test_config_errors_name_the_file_the_key_and_the_type(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "wtpool.yaml"
    path.write_text(text)
    with pytest.raises(WtpoolError) as caught:
        load_config(path)
    assert caught.value.code == ExitCode.USAGE
    assert str(path) in caught.value.message
    for fragment in fragments:
        assert fragment in caught.value.message


def test_libyaml_and_the_counting_loader_read_a_config_alike(tmp_path: Path) -> None:
    text = render_config(Config()).replace("min: 3", "min: 4")
    assert text.startswith("#") and "&" not in text
    # An `&` anywhere (here in the first comment) sends the file to the loader that counts.
    texts = {"fast": text, "counted": text.replace("\n", " &\n", 1)}
    configs, messages = {}, {}
    for name, content in texts.items():
        path = tmp_path / name / "wtpool.yaml"
        path.parent.mkdir()
        path.write_text(content)
        configs[name] = load_config(path)
        path.write_text(content + "pool: {}\n")  # the same message, whichever loader read it
        with pytest.raises(WtpoolError) as caught:
            load_config(path)
        messages[name] = caught.value.message.replace(str(path), "wtpool.yaml")
    assert configs["fast"] == configs["counted"] and configs["fast"].pool.min == 4
    assert messages["fast"] == messages["counted"]
    assert "key 'pool' is given twice" in messages["fast"]


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "wtpool.yaml"
    path.write_text("\n".join(layers) + "\n")
    with pytest.raises(WtpoolError, match="aliases expand to more than 100,000 nodes"):
        load_config(path)


def _config_source(cwd: Path, *args: str) -> dict:
    result = wtpool(cwd, *args, "config", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_discovery_prefers_flag_then_repository_file_then_defaults(
    repo: Path, with_databases: None
) -> None:
    defaults = _config_source(repo)
    assert defaults["source"] is None
    assert defaults["config"] == json.loads(json.dumps(dataclasses.asdict(Config())))

    (repo / "wtpool.yaml").write_text("pool:\n  max: 7\n")
    found = _config_source(repo / "src")
    assert found["source"] == str(repo / "wtpool.yaml")
    assert found["config"]["pool"]["max"] == 7

    elsewhere = repo.parent / "other.yaml"
    elsewhere.write_text("pool:\n  max: 5\n")
    chosen = _config_source(repo, "--config", str(elsewhere))
    assert chosen["source"] == str(elsewhere)
    assert chosen["config"]["pool"]["max"] == 5


def test_repository_config_supplies_init_defaults(repo: Path) -> None:
    (repo / "wtpool.yaml").write_text("pool:\n  min: 2\n  max: 4\n")
    assert wtpool(repo, "init").returncode == 0
    status = json.loads(wtpool(repo, "status", "--json").stdout)
    assert (status["pool"]["min"], status["pool"]["max"]) == (2, 4)
    assert len(status["worktrees"]) == 2


def test_init_writes_the_documented_config_with_the_chosen_values(repo: Path) -> None:
    assert wtpool(repo, "init", "--min", "2", "--max", "5").returncode == 0
    written = load_config(repo / "wtpool.yaml")
    assert (written.pool.min, written.pool.max, written.pool.base) == (2, 5, "main")
    assert written.timeouts == TimeoutSettings()
    # The tests run with WTPOOL_DATABASE_MODE=none: an override of this run, not of the file.
    assert written.database.mode == "embedded"


def test_the_environment_overrides_the_database_mode(repo: Path) -> None:
    (repo / "wtpool.yaml").write_text("database:\n  mode: external\n")
    shown = wtpool(repo, "config", env={"WTPOOL_DATABASE_MODE": "none"})
    assert "  mode: none" in shown.stdout.splitlines()
    assert "# database.mode from WTPOOL_DATABASE_MODE" in shown.stdout
    described = json.loads(wtpool(repo, "config", "--json").stdout)  # the suite sets it too
    assert described["overridden"] == {"database.mode": "WTPOOL_DATABASE_MODE"}
    before = snapshot(repo)
    result = wtpool(repo, "init", env={"WTPOOL_DATABASE_MODE": "sqlite"})
    assert_one_line_error(result, 2, "WTPOOL_DATABASE_MODE must be one of none, embedded")
    assert snapshot(repo) == before


def test_a_bad_repository_config_blocks_every_command(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("pool:\n  max: many\n")
    result = wtpool(pool.root, "status")
    assert_one_line_error(result, 2, "pool.max must be an integer")


def test_the_readme_documents_every_config_key() -> None:
    readme = (COMMITTED_DEFAULTS.parent.parent / "README.md").read_text()
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if not dataclasses.is_dataclass(value):  # a top-level list: `copy`
            assert f"`{section.name}:`" in readme, section.name
            continue
        for key in dataclasses.fields(value):
            assert f"`{section.name}.{key.name}`" in readme, f"{section.name}.{key.name}"


def test_scope_rules_load_as_a_list_of_rules(tmp_path: Path) -> None:
    path = tmp_path / "wtpool.yaml"
    path.write_text(
        "tasks:\n  source: yaml\n  path: plans/tasks.yaml\n"
        "  scope_rules:\n    - match: '(?i)login'\n      files: [web/login/]\n"
    )
    tasks = load_config(path).tasks
    assert (tasks.source, tasks.path) == ("yaml", "plans/tasks.yaml")
    assert tasks.scope_rules == (ScopeRule(match="(?i)login", files=("web/login/",)),)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tasks:\n  source: jira\n", "tasks.source must be one of beads, bd, yaml"),
        ("tasks:\n  path: ../elsewhere/issues.jsonl\n", "points outside the repository"),
        ("tasks:\n  path: /etc/issues.jsonl\n", "points outside the repository"),
        ("tasks:\n  scope_rules: {match: x}\n", "tasks.scope_rules must be a list of mappings"),
        (
            "tasks:\n  scope_rules: [{match: x, file: [a/]}]\n",
            "unknown key tasks.scope_rules[0].file",
        ),
        ("tasks:\n  scope_rules: [{match: '(', files: [a/]}]\n", "not a valid regular expression"),
        ("tasks:\n  scope_rules: [{match: x, files: [../a]}]\n", "escapes the repository"),
        ("tasks:\n  default_files: [/abs]\n", "is an absolute path"),
        ("copy: .env\n", "copy must be a list whose items are each a string or a mapping"),
        ("copy: [3]\n", "copy[0] must be a string or a mapping"),
        ("copy: [../secrets/.env]\n", "copy[0]: copy pattern '../secrets/.env' escapes"),
        ("copy: [/etc/passwd]\n", "copy[0]: copy pattern '/etc/passwd' is an absolute path"),
        ("copy: [{pattern: x/, mode: hardlink}]\n", "copy[0].mode must be one of copy, link"),
        ("copy: [{mode: link}]\n", "copy[0]: empty copy pattern"),
        ("agent:\n  terminal: screen\n", "agent.terminal must be one of none, tmux"),
        ("agent:\n  idle_after: 0\n", "agent.idle_after must be a positive number"),
        ("agent:\n  waiting_pattern: '('\n", "agent.waiting_pattern is not a valid regular"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "wtpool.yaml"
    path.write_text(text)
    with pytest.raises(WtpoolError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and fragment in caught.value.message


def _old(path: Path) -> None:
    """As a config file edited long ago looks: settled, so its parse may be remembered."""
    os.utime(path, (time.time() - 3600, time.time() - 3600))


def test_a_settled_config_is_read_back_from_the_cache_without_yaml(tmp_path: Path) -> None:
    path, cache = tmp_path / "wtpool.yaml", tmp_path / "cache" / "config.json"
    path.write_text("pool:\n  min: 4\n")
    _old(path)
    assert load_config(path, cache).pool.min == 4
    assert cache.is_file() and oct(cache.stat().st_mode & 0o777) == "0o600"
    probe = (
        "import sys; from pathlib import Path; from worktree_pool.config.loader import load_config;"
        f"c = load_config(Path({str(path)!r}), Path({str(cache)!r}));"
        "print(c.pool.min, 'yaml' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.stdout.split() == ["4", "False"], shown.stderr


def test_a_changed_config_is_never_read_from_the_cache(tmp_path: Path) -> None:
    path, cache = tmp_path / "wtpool.yaml", tmp_path / "config.json"
    path.write_text("pool:\n  min: 4\n")
    _old(path)
    load_config(path, cache)
    remembered = path.stat()
    # The same size, and the modification time set back, as a coarse clock could leave it:
    # the change time still moves, and no one can set it back.
    path.write_text("pool:\n  min: 5\n")
    os.utime(path, ns=(remembered.st_atime_ns, remembered.st_mtime_ns))
    assert load_config(path, cache).pool.min == 5


def test_a_config_just_written_or_beyond_json_is_not_remembered(tmp_path: Path) -> None:
    path, cache = tmp_path / "wtpool.yaml", tmp_path / "config.json"
    path.write_text("pool:\n  min: 4\n")
    assert load_config(path, cache).pool.min == 4
    assert not cache.exists()  # it may change again within the file system's clock tick
    path.write_text("pool:\n  base: 2024-01-01\n")  # a date: JSON would give back a string
    _old(path)
    with pytest.raises(WtpoolError, match=r"pool\.base"):
        load_config(path, cache)
    assert not cache.exists()
    path.write_text("database:\n  url: postgresql://u:secret@h/x\n")  # no copy of a password
    _old(path)
    assert load_config(path, cache).database.url == "postgresql://u:secret@h/x"
    assert not cache.exists()


def test_copy_takes_plain_patterns_and_rules(tmp_path: Path) -> None:
    path = tmp_path / "wtpool.yaml"
    path.write_text("copy: [.env, {pattern: node_modules/, mode: link}]\n")
    assert load_config(path).copy_rules() == (
        CopyRule(".env", "copy"),
        CopyRule("node_modules/", "link"),
    )
