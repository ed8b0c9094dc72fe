"""One colour per thing, in every figure (the CLI's PNG/SVG/PDF and the HTML report), from
colour-blind-safe palettes: an op kind or unit keeps its colour from figure to figure, phases
are blue and orange (never red against green)."""
from __future__ import annotations

import zlib

# Okabe & Ito (2008), then Paul Tol's 'muted' scheme: 16 colours distinguishable under the
# common colour-vision deficiencies
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
TOL_MUTED = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")
SERIES = OKABE_ITO[:7] + TOL_MUTED          # for series in order (sweep values, systems)
PHASES = {"prefill": "#0072B2", "decode": "#E69F00"}
# the op kinds and units most figures show, each its own colour; anything else hashes into SERIES
FIXED = {"matmul": "#0072B2", "attn_score": "#E69F00", "attn_context": "#009E73", "softmax": "#CC79A7",
         "all_reduce": "#56B4E9", "kernel_launch": "#D55E00", "launch": "#D55E00", "stall": "#999933",
         "expert_matmul": "#332288", "all_to_all": "#88CCEE", "layernorm": "#44AA99", "rmsnorm": "#44AA99",
         "elementwise": "#DDCC77", "activation": "#117733", "kv_append": "#CC6677", "embedding": "#882255",
         "sampling": "#AA4499", "program_load": "#F0E442", "pim_mac": "#0072B2", "asic": "#E69F00",
         "activation_refresh": "#CC79A7", "data_movement": "#56B4E9", "engine": "#009E73",
         "flash_read": "#D55E00", "flash_write": "#882255", "p2p": "#88CCEE", "framework": "#000000"}


def colour_of(name: str) -> str:
    """The colour of an op kind, unit or other named part: fixed for the common ones, a stable
    hash of the name for the rest (the same in every run and figure)."""
    if name in FIXED:
        return FIXED[name]
    return SERIES[zlib.crc32(name.encode()) % len(SERIES)]


def series_colour(index: int) -> str:
    return SERIES[index % len(SERIES)]
