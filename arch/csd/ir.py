"""The vocabulary of a csd Program: the gpu family's tasks plus the drives' and the SSD's.

GPU-side rows use the gpu family's units, kinds, columns and task classes unchanged (their
times come from the gpu family's roofline). Storage rows add: per drive ``csd<i>_link`` (peer
to peer with the GPU), ``csd<i>_flash`` (page reads / writes at the characterised rate of its
flash array) and ``csd<i>_engine`` (the attention engine); the host's ``ssd`` (file reads of
offloaded data); ``host_cpu`` (the host CPU running DeepSpeed's decode attention over the cache
in host memory, at the rates of the host's cpu preset). ``kv`` marks tasks that move or read the KV cache (the KV-access share).
"""
import numpy as np

FLASH_READ, FLASH_WRITE, ENGINE, P2P, SSD_READ, HOST_CPU = 20, 21, 22, 23, 24, 25
STORAGE_KINDS = ("p2p", "flash_read", "flash_write", "engine", "ssd_read")
EXTRA_COLUMNS = {"storage_bytes": np.int64, "engine_macs": np.float64, "softmax_elems": np.int64,
                 "filter_bytes": np.int64, "kv": np.bool_}
ZERO = {"storage_bytes": 0, "engine_macs": 0.0, "softmax_elems": 0, "filter_bytes": 0, "kv": False}


def drive_units(count: int) -> tuple[str, ...]:
    return tuple(f"csd{i}_{part}" for i in range(count) for part in ("link", "flash", "engine"))
