"""Watching what the pool uses: samples of its resources, the limits they are held to, and the
per-slot facts a dashboard shows. Sampling only: drawing is cli/render/'s, tending coord/'s.

Invariants: a sample never starts the embedded server (a monitor that did would hold what
nobody asked for); the slow readings (disk walks, `git status` in each slot) are remembered
and refreshed apart, so a frame stays cheap on a large repository; an alert is written when a
resource's level changes, not on every sample, the previous level read and written in one
transaction; while a limit is critical, new work waits.

    resources.py   one sample: database connections, disk, descriptors, the pool, processes
    diskusage.py   disk used under the pool directory, measured rarely and remembered
    limits.py      each resource against its levels, the alerts, and the gate on new work
    slot_facts.py  per-slot facts for the dashboard, the slow ones cached
    ports.py       each slot's block of ports, and who else holds them
"""
