"""How wtpool tells an agent's processes from the pool's own, by a mark in their environment.

An agent runs under `agents.runner`, which sets GROUP_VARIABLE for everything the agent starts;
stopping the agent stops every process that carries its mark. A process the pool starts for
itself (its database server, a background merge run, the daemon) carries POOL_PROCESS_VARIABLE
instead, even when an agent's wtpool command started it, so stopping that agent leaves it alone.
"""

from __future__ import annotations

import os

GROUP_VARIABLE = "WTPOOL_AGENT_GROUP"
# Marks a process wtpool starts as the pool's own (its database server, a background merge
# run, the daemon): even when an agent's wtpool command starts it, stopping that agent must
# not stop it.
POOL_PROCESS_VARIABLE = "WTPOOL_POOL_PROCESS"


def pool_process_environment() -> dict[str, str]:
    """Our environment for a process that is the pool's, not an agent's: without the agent's
    mark, with the pool's."""
    environment = {k: v for k, v in os.environ.items() if k != GROUP_VARIABLE}
    return {**environment, POOL_PROCESS_VARIABLE: "1"}
