"""The commit guard's entry point, where installed slot hooks expect it:

    python -I -m worktree_pool.guard SCOPE_FILE [HOOK]

The guard itself is `worktree_pool.scope.guard`; this module only runs it, so that hooks written
by any version of wtpool keep working.
"""

import sys
from pathlib import Path

from worktree_pool.scope.guard import check

if __name__ == "__main__":
    sys.exit(check(Path(sys.argv[1]), *sys.argv[2:3]))
