"""A small training pipeline, standard library only: logistic regression on a made-up dataset.

`train` tracks the loss and accuracy of every epoch (track_this(step=epoch, ...)), so each run has a curve;
`evaluate` tracks the AUC on held-out data. Parameters: lr (learning rate), epochs, seed.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from magnus import track_this


def _data(seed: int, n: int = 400) -> list[tuple[list[float], int]]:
    """Two noisy clusters in 3 dimensions, labels 0 and 1 (the same for a given seed)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.random() < 0.5
        centre = 0.6 if label else -0.6
        rows.append(([rng.gauss(centre, 1.0) for _ in range(3)], int(label)))
    return rows


def _predict(weights: list[float], x: list[float]) -> float:
    z = weights[0] + sum(w * v for w, v in zip(weights[1:], x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def train(lr: float = 0.1, epochs: int = 10, seed: int = 7) -> None:
    """Gradient descent over the training half; the weights go to data/model.json (put in the catalog)."""
    rows = _data(seed)[:200]
    weights = [0.0, 0.0, 0.0, 0.0]
    for epoch in range(1, epochs + 1):
        grad = [0.0] * 4
        loss = 0.0
        correct = 0
        for x, y in rows:
            p = _predict(weights, x)
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            correct += int((p > 0.5) == bool(y))
            for i, v in enumerate([1.0, *x]):
                grad[i] += (p - y) * v
        weights = [w - lr * g / len(rows) for w, g in zip(weights, grad, strict=True)]
        track_this(step=epoch, loss=round(loss / len(rows), 5), accuracy=round(correct / len(rows), 4))
    Path("data").mkdir(exist_ok=True)
    Path("data/model.json").write_text(json.dumps({"weights": weights}))


def evaluate(seed: int = 7) -> None:
    """AUC on the held-out half (the chance that a positive scores above a negative), of the model the
    catalog gives back in data/model.json."""
    weights = json.loads(Path("data/model.json").read_text())["weights"]
    rows = _data(seed)[200:]
    scores = [(_predict(weights, x), y) for x, y in rows]
    positives = [s for s, y in scores if y]
    negatives = [s for s, y in scores if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    track_this(auc=round(wins / (len(positives) * len(negatives)), 4))
