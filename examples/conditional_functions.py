"""Functions for examples/conditional.yaml."""

from magnus import track_this


def train(threshold: float = 0.9):
    """A stand-in for training: a fixed accuracy, tracked as a metric and judged against `threshold`."""
    accuracy = 0.93
    track_this(accuracy=accuracy)
    return {"accuracy": accuracy, "good_enough": accuracy >= threshold}


def deploy(accuracy: float):
    """Runs only when the model is good enough (the conditional's "true" branch)."""
    print(f"deploying the model (accuracy {accuracy})")
    return {"deployed": True}
