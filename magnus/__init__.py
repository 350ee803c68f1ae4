"""The API pipeline code imports: `from magnus import track_this, get_parameter, ...`.

A thin re-export of `magnus_core.interaction`; the engine lives in `magnus_core`.
"""

from magnus_core import __version__
from magnus_core.interaction import (
    get_from_catalog,
    get_parameter,
    get_run_id,
    get_secret,
    get_tag,
    put_in_catalog,
    store_parameter,
    track_this,
)

__all__ = [
    "__version__",
    "get_from_catalog",
    "get_parameter",
    "get_run_id",
    "get_secret",
    "get_tag",
    "put_in_catalog",
    "store_parameter",
    "track_this",
]
