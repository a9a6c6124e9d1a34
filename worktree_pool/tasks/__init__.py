"""The task graph and what is done with it: where it is read from, which tasks are ready, the
tracks it splits into, which of them spawn picks, and marking a task done.

Invariants: readiness follows `bd ready`; a dependency on a task the graph lacks blocks nothing
and is reported as dangling; tracks share no edge that affects work, so agents on different
tracks never wait for each other (whether they touch the same files is scope/'s question);
wtpool never writes a Beads export, and edits a YAML task file only where the status is.

    sources.py    read the graph: a Beads export, `bd list`, or a YAML task file; task ids
    graph.py      tasks, their edges, and which are ready
    tracks.py     tracks (connected components of unfinished work) and each task's scope
    description.py  the files a task's text lists itself (a `Files:` section or clause)
    scoping.py    everything a repository's task scopes come from, gathered once per graph
    inference/    scope inference from the repository: named paths, code, vocabulary, history
    selection.py  which tracks spawn picks, and which tracks' scopes collide
    planning.py   `wtpool tracks analyze|recommend|conflicts`: read-only views of the tracks
    explaining.py  `wtpool tracks explain|pin|unpin`: why a task has its scope, and pins
    status.py     mark a task done once its branch has landed (the YAML file, or `bd close`)
"""
