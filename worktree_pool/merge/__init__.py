"""The merge queue: finished branches wait in it, and one process at a time lands them on the
base branch without checking the base out.

Invariants: with a gate, the base only ever holds a tree that passed it (bors' rule); the
base moves only by compare-and-swap (`update-ref NEW OLD`), so concurrent landings lose no
commit; every step before the swap only reads or writes new objects, so a failure or a kill
before it leaves the base as it was; an entry records its candidate commit just before the
swap, so after a crash "the base contains the candidate" means it landed; one processor at a
time, named by pid and start time in the state store. What follows a landing never undoes it:
a failing step there is a note on the entry, not an error.

An entry's states (queue.py: MergeState; the transitions are landing.py's):

    wtpool merge --> queued --claim_batch-> merging --swap--> merged
                       ^                       |
                       |                       +--> conflict      merge-tree found conflicts
                       |                       +--> rejected      a path outside the scope or
                       |                       |                  held by another agent, or a
                       |                       |                  checkout of the base in the way
                       |                       +--> failed-tests  the gate failed
                       |                       +--> failed        the MAX_ERRORS-th error
                       |                       |
                       +-----------------------+  an error (git, the remote): attempts + 1

`merging` is the only transient state. A processor killed while an entry is `merging` is
settled by the next run (or `doctor --fix`) from git: the candidate in the base means `merged`,
otherwise `queued` again. `merged`, `conflict`, `rejected`, `failed-tests` and `failed` are
final: merging the branch again makes a new entry, while merging a branch that is `queued`
updates that entry's tip. Cleanup deletes the queue and keeps the branches.

    queue.py          entries, their order, enqueueing, the processor lock
    submit.py         `wtpool merge`: queue a branch, then land it here or leave it to a runner
    report.py         `wtpool queue`: the entries, the processor, and a run if one was asked for
    landing.py        working through the queue: take a batch, refuse, land, recover
    batch.py          a batch landed as one chain: build, gate, swap, push; bisected on failure
    settling.py       an entry that did not land: its state, reason and mail
    gate.py           merge.test_command, run on the commit that would land
    integration.py    merge-tree, commit-tree, the swap, push, checkouts of the base
    closing.py        the landed task closed in a tracked YAML task file, in the landing commit
    after_landing.py  bring checkouts of the base along, record merged, release, close the task
    scratch.py        short-lived sparse worktrees for rebasing and for the gate
"""
