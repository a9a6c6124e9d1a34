"""The pool of slots: worktrees under `.agent-worktrees/`, handed to agents and taken back.

Invariants: a claim is decided in one `BEGIN IMMEDIATE` transaction, and a slot's row says
`preparing` for its agent before any git work starts, so no slot is ever handed out twice;
acquire and release are idempotent (agents retry); requests queue first come, first served;
nothing unique to a slot is reset or removed before it is saved to a salvage branch; idle slots
are detached at the base's tip, and a claimed one is on `wtpool/task/<task>` or
`wtpool/agent/<agent>`.

    opening.py        the checks of the pool directory every command makes, and opening the store
    lifecycle.py      `init`: make the pool or top it up, its config file, its bounds
    status.py         `status`: the pool, each slot as git and the disk show it, the queue
    claims.py         acquire and release: the agent's two calls
    serving.py        handing a slot over: claim it in the caller's transaction, prepare it
    recycle.py        taking a slot back: save what is unique, reset it, drop its claim
    adoption.py       building new slots' worktrees, adopting worktrees that lost their rows
    scaling.py        grow and shrink within the bounds, never below min or past a busy slot
    worktrees.py      the git side of a slot: create, branch, reset, remove its worktree
    handoff.py        what an agent finds in its slot: the hand-off file and its task's brief
    environment.py    a slot's variables outside its agent: `env`, `run`, the hooks
    slot_hooks.py     the hooks run as slots are created, claimed, released, removed; trust
    copies.py         the main worktree's ignored files (`copy:`) brought into a slot
    refresh.py        `refresh`: copy again, and put a slot out of service back in service
    salvage.py        find the work only a slot holds and save it to a branch first
    history.py        commits only a slot remembers: reflogs, per-worktree refs, stashes
    stale_records.py  git's record of a slot whose directory is gone: repair it or save and drop
"""
