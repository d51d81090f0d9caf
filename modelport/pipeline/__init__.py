"""The job pipeline: a job (data) in, a report out. See `runner.run` and docs/architecture.md."""

from modelport.pipeline.job import Job, Measure, Stage, VerifyOptions
from modelport.pipeline.runner import run

__all__ = ["Job", "Measure", "Stage", "VerifyOptions", "run"]
