"""Functions for examples/composite.yaml."""

from magnus import track_this


def prepare(x: int = 1):
    """Makes the list the map iterates on."""
    return {"z": x * 2, "items": ["a", "b", "c"]}


def consume(z: int, x: int = 1):
    track_this(total=z + x)
    return {"result": z + x}


def per_item(chunk: str):
    """Runs once per item of `items`; the item arrives as `chunk`."""
    track_this(chunk_len=len(chunk))
    return {f"seen_{chunk}": True}
