"""`wtpool env` and `wtpool run`: a slot's variables, outside its agent."""

from __future__ import annotations

import json

from tests.conftest import Pool, assert_one_line_error, env_file, wtpool, wtpool_json


def test_env_prints_what_the_hand_off_file_gives_the_agent(pool: Pool) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "alice", "--task", "t-1", "--adhoc")
    handed = env_file(pool.slot(1))
    shown = wtpool_json(pool.root, "env", "pool-wt-1")
    assert shown["variables"] == handed
    assert shown["path"] == str(pool.slot(1))
    plain = wtpool(pool.root, "env", "pool-wt-1").stdout.splitlines()
    assert "WTPOOL_TASK='t-1'" in plain
    exported = wtpool(pool.slot(1), "env", "--shell").stdout.splitlines()  # from inside it
    assert "export WTPOOL_AGENT='alice'" in exported


def test_an_idle_slot_has_an_environment_without_a_task(pool: Pool) -> None:
    variables = wtpool_json(pool.root, "env", "pool-wt-2")["variables"]
    assert variables["WTPOOL_SLOT"] == "pool-wt-2"
    assert variables["WTPOOL_TASK"] == variables["WTPOOL_AGENT"] == ""


def test_run_runs_in_the_slot_with_its_environment_and_its_exit_code(pool: Pool) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "alice")
    script = (
        'import json, os; print(json.dumps([os.getcwd(), os.environ["WTPOOL_AGENT"]])); exit(7)'
    )
    done = wtpool(pool.root, "run", "pool-wt-1", "--", "python3", "-c", script)
    assert done.returncode == 7
    assert json.loads(done.stdout) == [str(pool.slot(1)), "alice"]


def test_bad_input_to_env_and_run(pool: Pool) -> None:
    assert_one_line_error(wtpool(pool.root, "env", "pool-wt-9"), 2, "no slot named 'pool-wt-9'")
    assert_one_line_error(wtpool(pool.root, "env", "../x"), 2, "slot")
    assert_one_line_error(
        wtpool(pool.root, "run", "pool-wt-1", "--", "no-such-program-here"),
        2,
        "program 'no-such-program-here' not found",
    )
    assert_one_line_error(wtpool(pool.root, "run", "pool-wt-1", "--"), 2, "no command given")
    assert_one_line_error(wtpool(pool.root, "env"), 2, "not inside a slot")
