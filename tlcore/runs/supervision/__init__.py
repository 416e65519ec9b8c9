"""Supervising runs: the runner (a queue on disk, one worker process per device), the standby worker
kept warm, the processes it may signal, liveness and cancel rules (small functions with their own
tests), the watchdog over stalled stages, and the launch of a run's processes (the worker command's
entry). Imports the store and execution; runs reach their worker only as processes."""
