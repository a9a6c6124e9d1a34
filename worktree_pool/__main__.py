from worktree_pool.cli.entry import main

main()
