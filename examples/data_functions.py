"""Functions of the data and secrets examples: files move through the catalog, secrets come from a
provider."""

from __future__ import annotations

import csv
from pathlib import Path

from magnus import get_from_catalog, get_secret, put_in_catalog, track_this


def make_data(rows: int = 5):
    """Write data/raw.csv; the step's `catalog.put` copies it into this run's catalog."""
    Path("data").mkdir(exist_ok=True)
    with open("data/raw.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "y"])
        for i in range(rows):
            writer.writerow([i, i * i])


def clean_data():
    """Read data/raw.csv (its `catalog.get` fetched it), write data/clean.csv and put it from code."""
    with open("data/raw.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open("data/clean.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "y"])
        for row in rows:
            if int(row["y"]) % 2 == 0:
                writer.writerow([row["x"], row["y"]])
    put_in_catalog("data/clean.csv")
    track_this(rows_in=len(rows))


def summarise():
    """Fetch clean.csv from the catalog into another folder, from code."""
    get_from_catalog("clean.csv", destination_folder="summary")
    with open("summary/clean.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    track_this(rows_out=len(rows), total=sum(int(r["y"]) for r in rows))


def use_secret():
    """A secret is used, never recorded: if it is printed, magnus masks it."""
    token = get_secret("api_token")
    print(f"connecting with token {token}")
    track_this(token_length=len(token))
