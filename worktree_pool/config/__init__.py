"""wtpool's configuration: what `wtpool.yaml` may say, and reading it.

Invariants: the frozen dataclasses are the single source of the defaults (the committed
`config/wtpool.yaml` and the one `init` writes are rendered from them); discovery is
`--config`, then `wtpool.yaml` at the main worktree's root, then the defaults; an unknown key or
a wrong type is an error naming the file, the key and the expected type, never a silent default.

    settings.py  the settings dataclasses, the strict YAML loader, discovery and the default file
    sizes.py     byte sizes as people write them: `2.8GB`, `512KiB`, or plain bytes
"""
