"""magnus: pipelines of plain functions with a run log for every run."""

__version__ = "0.5.0"
