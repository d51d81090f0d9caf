"""One module per command: each turns its arguments into a job (or a read-only check) and returns a Report.

These functions are the Python API (`modelport.convert`, `modelport.verify`, ...); the CLI is a thin layer
over them.
"""
