"""Functions for examples/loop.yaml."""

from magnus import track_this


def improve(iteration: int, estimate: float = 1.0, target: float = 2.0):
    """One step of Newton's method for the square root of `target`. Each iteration starts from the
    estimate the one before returned; the error is tracked as a series, one point per iteration."""
    estimate = (estimate + target / estimate) / 2
    error = abs(estimate * estimate - target)
    track_this(step=iteration + 1, error=error)
    return {"estimate": estimate, "converged": error < 1e-9}


def report(estimate: float, converged: bool):
    print(f"estimate {estimate} ({'converged' if converged else 'not converged'})")
    track_this(estimate=estimate)
