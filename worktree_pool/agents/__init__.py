"""The agents: their processes, the files they reserve, and the mail between them.

Invariants: an agent's processes are its runner's group and session, the processes carrying
its mark (WTPOOL_AGENT_GROUP) and their descendants, each signalled as it was seen (by pid and
start marker), never by a group id that may have been reused; a process the pool starts for
itself carries the pool's mark instead and is never stopped with an agent; reservations are
checked and granted in one `BEGIN IMMEDIATE` transaction, by exact glob overlap, expiring on
their own; every reservation change and message sent is one line in the audit log.

    process.py        start an agent in a slot under the runner, and read how it is doing
    process_table.py  one look at the system's processes, with start markers against pid reuse
    membership.py     which processes are an agent's, which are in a slot, which no slot records
    stopping.py       SIGTERM, then SIGKILL after a grace period, to an agent and its slot's strays
    logs.py           where an agent's output and its exit record live
    activity.py       what an agent is doing: starting, working, waiting, exited N, stopped
    terminal.py       agents in tmux sessions of the pool's own server: start, send, attach
    output.py         an agent's log, whole or followed until the agent ends
    runner.py         runs one agent command and records its exit (agent_runner.py runs it)
    reservations.py   file reservations: exclusive or shared, for a time, conflicts by overlap
    mail.py           short messages between agents, and from wtpool to them
    audit.py          the audit log: who held what, and who said what, when
"""
