"""Experiment trackers beyond do-nothing (magnus_core/tracking.py): each needs its own extra."""
