"""The agent runner's entry point, where wtpool finds agents by their command line:

    python -I -m worktree_pool.agent_runner EXIT_FILE -- COMMAND...

The runner itself is `worktree_pool.agents.runner`; this module only runs it, so that agents
started by any version of wtpool are still found and stopped.
"""

import sys

from worktree_pool.agents.runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
