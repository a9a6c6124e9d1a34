"""The `wtpool` command: parse arguments, call one library function, render its result.

Owns all that a person or a script sees. typer lives only here, and rich only under render/
(a contract forbids both below cli/); the library returns values and raises `WtpoolError`,
never prints. Invariants: `app.main` (and `quick.answer`, for the commands it answers) is the
error boundary, where any failure becomes one `error:` line and a `hint:` line on stderr, exit
1 or 2, with the traceback only under `--debug`; `--json` prints the library's result itself
(util/jsonable.py), so a script and a table never disagree.

    entry.py       the console script: quick.py's commands first, then app.py
    quick.py       `--version` and `status [--json]`, answered before typer is imported
    failure.py     how every command fails: the `error:` and `hint:` lines and the exit code
    app.py         the typer root, the global options, `main()` and its error boundary
    lazy.py        the root group that imports a command's module only when it is used, so
                   `wtpool --version` and `wtpool status` load no other command's code
    invocation.py  this invocation's global options (`--config`), set by the root's callback
    options.py     what command modules share: `--json`, `--lenient`, opening the repository
    commands/      one module per command group, each owning its typer app
    demo.py        `wtpool demo`: a short, real session in a throwaway repository
    render/        what people read: tables, frames and messages (scripts use `--json`)
"""
