"""`modelport batch`: a manifest of jobs run on a process pool or Ray, with resume, JSON and JUnit reports.

manifest (read and check) -> plan (tasks: one per job and target, steps with digests) -> an executor (pool:
one process per task; ray: one Ray task per task) running `worker.run_task` -> results, JUnit. Sits between
the CLI and the commands: a task's steps are calls of the Python API (`modelport.convert`, ...).
"""
