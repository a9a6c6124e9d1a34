"""Small helpers every layer may use; they import nothing of wtpool's but errors.py.

Invariants: anything read from someone else is bounded before it is parsed; nothing private is
written through a link or with a mode wider than 0600; a secret is masked wherever text is
shown. private.py, processes.py, redact.py and shell.py use the standard library only, for
the agent runner and the guard.

    names.py           validation of slot, agent and task names before any side effect
    pattern_syntax.py  the safety rules every scope pattern obeys, wherever it comes in
    inputs.py          bounded reads of files: no endless file
    yaml_input.py      YAML from those reads: no alias bomb, libyaml when no alias can be
    private.py         files only their owner can read, never written through a link
    processes.py       the environment marks that tell an agent's processes from the pool's
    redact.py          `mask`: passwords out of everything wtpool shows
    shell.py           quoting text for the shell: hand-off files, hooks, suggested commands
    ere.py             scope patterns as grep -E expressions, for the guard's shell fast path
    jsonable.py        library results as plain JSON values, for `--json` and `report`
    testpoints.py      named points where a test can kill or pause a process
    progress.py        long work reports its progress to whoever listens (the CLI's bars)
    cow_copy.py        copying trees as `cp -a --reflink=auto`, never a link out of a root
"""
