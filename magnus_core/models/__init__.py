"""Pydantic models: the pipeline file and the run log."""
