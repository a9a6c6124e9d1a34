"""wtpool's configuration: what `wtpool.yaml` may say, and reading it.

Invariants: the frozen dataclasses are the single source of the defaults (the committed
`config/wtpool.yaml` and the one `init` writes are rendered from them); discovery is
`--config`, then `wtpool.yaml` at the main worktree's root, then the defaults; an unknown key or
a wrong type is an error naming the file, the key and the expected type, never a silent default.

    settings.py    the frozen settings dataclasses and their documented defaults
    loader.py      reading wtpool.yaml: discovery, the strict YAML loader, environment overrides
    validation.py  checks of the values, once keys and types are known to be right
    display.py     the documented default file, and the view with secrets masked
    effective.py   the configuration in effect as `wtpool config` shows it, and its source
    sizes.py     byte sizes as people write them: `2.8GB`, `512KiB`, or plain bytes
"""
