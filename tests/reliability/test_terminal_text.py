"""Text that wtpool did not write never acts on the terminal.

A task's title, a branch or file name, a message, a gate's output, a path quoted in an error:
any of them may hold an escape sequence (which can clear the screen, move the cursor or set the
window title), U+009B (a CSI on its own), a bidi override (which reorders what is shown) or a
newline (which starts a line that looks like wtpool's). Every command must show such characters
as escapes (`\\x1b`, `\\n`), in tables, messages and errors alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, make_pool, make_repo, wtpool, wtpool_json

# An escape sequence that clears the screen, one that sets the window title, a C1 CSI, a bidi
# override, and a newline followed by what could pass for one of wtpool's lines.
HOSTILE = "A\x1b[2J\x1b]0;pwned\x07B\x9b31m\u202eC\nerror: forged"
SHOWN = "A\\x1b[2J\\x1b]0;pwned\\x07B\\x9b31m\\u202eC\\nerror: forged"


def _clean(text: str) -> None:
    """Nothing in `text` that a terminal acts on, and no forged line."""
    for char in ("\x1b", "\x9b", "\x07", "\u202e", "\r"):
        assert char not in text, f"{char!r} reached the terminal: {text!r}"
    assert not any(line.startswith("error: forged") for line in text.splitlines()), text


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo")
    tasks = {"tasks": [{"id": "t1", "title": HOSTILE, "files": ["src/"]}]}
    (root / "tasks.yaml").write_text(json.dumps(tasks))  # JSON is YAML, and escapes exactly
    (root / "wtpool.yaml").write_text("tasks:\n  source: yaml\n")
    make_pool(root, 1, 3)
    return root


def test_a_task_title_is_shown_as_escapes(root: Path) -> None:
    result = wtpool(root, "tracks", "analyze")
    assert result.returncode == 0, result.stderr
    _clean(result.stdout)
    assert SHOWN in result.stdout


def test_an_error_that_quotes_a_path_keeps_it_on_one_harmless_line(root: Path) -> None:
    result = wtpool(root, "--config", f"nope{HOSTILE}.yaml", "status")
    assert result.returncode == 2
    _clean(result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "\\x1b[2J" in result.stderr


def test_mail_subjects_and_bodies_are_shown_as_escapes(root: Path) -> None:
    # A subject is one line: a control character of any kind is refused in it.
    send = ["mail", "send", "--from", "ann", "--to", "bob"]
    refused = wtpool(root, *send, "--subject", "a\x9bb", "--body", "x")
    assert refused.returncode == 2 and "a subject is one line" in refused.stderr
    body = "l1\n" + HOSTILE.partition("\n")[0]
    sent = wtpool_json(root, *send, "--subject", "hello\u202eolleh", "--body", body)
    inbox = wtpool(root, "mail", "inbox", "bob")
    _clean(inbox.stdout)
    assert "hello\\u202eolleh" in inbox.stdout
    shown = wtpool(root, "mail", "read", str(sent["id"]))
    assert shown.returncode == 0, shown.stderr
    _clean(shown.stdout)
    # The body keeps its lines; what a terminal would act on is shown as escapes.
    assert shown.stdout.splitlines()[-2:] == ["l1", SHOWN.partition("\\n")[0]]


def test_a_branch_and_file_names_from_a_slot_are_shown_as_escapes(root: Path) -> None:
    slot = Path(wtpool_json(root, "acquire", "--agent", "ann")["path"])
    git(slot, "checkout", "-q", "-b", "feat\u202e\x9bx")
    (slot / "src" / "name\x1b[2J\u202e.txt").write_text("work\n")
    status = wtpool(root, "status")
    assert status.returncode == 0, status.stderr
    _clean(status.stdout)
    assert "feat\\u202e\\x9bx" in status.stdout
    monitor = wtpool(root, "monitor", "--once")  # it may show the branch it remembers
    assert monitor.returncode == 0, monitor.stderr
    _clean(monitor.stdout)
    discarded = wtpool(root, "cleanup", "--force")
    assert discarded.returncode == 0, discarded.stderr
    _clean(discarded.stdout)
    assert "name\\x1b[2J\\u202e.txt" in discarded.stdout


def test_a_gates_output_is_shown_as_escapes(root: Path) -> None:
    gate = "printf 'A\\033[2JB\\302\\233C\\n'; exit 1"
    (root / "wtpool.yaml").write_text(
        f"tasks:\n  source: yaml\nmerge:\n  test_command: [sh, -c, {json.dumps(gate)}]\n"
    )
    slot = Path(wtpool_json(root, "acquire", "--agent", "ann", "--task", "t1")["path"])
    (slot / "src" / "a.py").parent.mkdir(exist_ok=True)
    (slot / "src" / "a.py").write_text("a\n")
    git(slot, "add", "--sparse", "src/a.py")
    git(slot, "commit", "-q", "--no-verify", "-m", "a")
    merged = wtpool(root, "merge", "t1", "--wait")
    assert merged.returncode == 1
    _clean(merged.stdout)
    assert "A\\x1b[2JB\\x9bC" in merged.stdout


def test_spawn_mails_a_hostile_title_as_a_subject_of_one_plain_line(root: Path) -> None:
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    (message,) = wtpool_json(root, "mail", "inbox", item["agent"])
    assert message["subject"] == "your task t1: A [2J ]0;pwned B 31m\u202eC error: forged"
    inbox = wtpool(root, "mail", "inbox", item["agent"])
    _clean(inbox.stdout)
