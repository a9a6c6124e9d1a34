from worktree_pool.cli.app import main

main()
