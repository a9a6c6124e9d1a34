"""The global options of this invocation (`wtpool --config PATH ...`): set by the root's callback
in app.py before any command runs, read by the commands. A module of its own so that reading
them costs a command module nothing, and `wtpool --version` imports nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class GlobalOptions:
    config: Path | None = None  # --config: the file to read instead of <repo>/wtpool.yaml


current = GlobalOptions()
