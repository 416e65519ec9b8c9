"""Experiments: a grid of ordinary runs on one validation set (grid), its runs queued, resumed and
cancelled (queue), and the built-in lessons (lessons). Imports the store only: a run is queued through
a submit function the caller gives (the runner's, or the CLI's run-here)."""
