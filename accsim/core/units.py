"""Units from names: accsim names carry their unit as a suffix (``tpot_s``, ``bandwidth_GBps``,
``energy_pJ``); plots and tables read it back instead of keeping a second list of units."""
from __future__ import annotations

# suffix -> (unit, the words that stand for the suffix in a label); longest match first
UNIT_SUFFIXES = (("tokens_per_s", "tokens/s", "throughput"), ("_per_token_J", "J", " per token"),
                 ("_pct", "%", ""), ("_cycles", "cycles", ""), ("_ms", "ms", ""), ("_us", "us", ""),
                 ("_ns", "ns", ""), ("_ps", "ps", ""), ("_s", "s", ""), ("_pJ", "pJ", ""),
                 ("_J", "J", ""), ("_mW", "mW", ""), ("_W", "W", ""), ("_bytes", "bytes", ""),
                 ("_GBps", "GB/s", ""), ("_GiB", "GiB", ""), ("_MHz", "MHz", ""))


def _split(name: str) -> tuple[str, str]:
    """(label words, unit) of a name."""
    for suffix, unit, words in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name[: len(name) - len(suffix)] + words, unit
    return name, ""


def unit_of(name: str) -> str:
    """The unit a name carries ('' when it carries none)."""
    return _split(name)[1]


def label_of(name: str) -> str:
    """An axis label: words spaced, the unit in brackets (``memory.bandwidth_GBps`` ->
    ``memory bandwidth [GB/s]``, ``decode_tokens_per_s`` -> ``decode throughput [tokens/s]``)."""
    stem, unit = _split(name)
    words = " ".join(stem.replace(".", " ").replace("_", " ").split())
    return f"{words} [{unit}]" if unit else words


def si_number(value: float) -> str:
    """A number in a few characters that reads as a number: 12, 0.25, 3.07k, 1.5G."""
    v = float(value)
    if v == int(v) and abs(v) < 1e4:
        return str(int(v))
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"
