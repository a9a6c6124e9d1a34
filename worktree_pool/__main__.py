from worktree_pool.cli import main

main()
