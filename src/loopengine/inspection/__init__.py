"""Looking at what a run found: `show` (terminal tables), `report` (PNG plots + HTML),
`export` (files for networkx / sympy / Sage) and `compare` (two runs side by side).

All four read a run through `loopengine.inspection.runs.open_run`, which checks the archive
once and turns every unreadable case into an `ArchiveError` with a clear message.
"""
