"""Executing one run in its worker process: the run's data read once (run_data), each phase's batches
(phase_data), the one writer of its events and status (recorder), its progress counted in work
(work_meter), and the worker (worker.execute_run) that reads like the run's recipe. Imports the store,
never supervision or experiments: a worker knows its run folder, not the queue that started it."""
