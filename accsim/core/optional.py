"""Optional dependencies, imported where a feature needs them and named when missing."""
from __future__ import annotations

from typing import Any

from accsim.core.errors import AccsimError


def pandas_module(what: str) -> Any:
    """pandas, or an error naming what needs it and how to install it (an optional extra)."""
    try:
        import pandas as pd
    except ImportError:
        raise AccsimError(f"{what} needs pandas: pip install 'accsim[pandas]'") from None
    return pd
