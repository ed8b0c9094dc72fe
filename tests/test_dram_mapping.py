"""Address mappings as general strings: Ramulator's and DRAMsim3's orders, split fields
(channel-interleave granularity), and clear errors naming the field."""
import numpy as np
import pytest

from accsim.arch.dram.spec import field_bits, map_addresses
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset

pytestmark = pytest.mark.unit


def config(mapping, preset="hbm2-2gbps"):
    return resolve_preset(preset, {"dram.controller.address_mapping": mapping}).spec.dram


def test_ramulator_names_keep_their_meaning():
    cfg = config("RoBaRaCoCh")
    tx = cfg.organization.tx_bytes
    f = map_addresses(cfg, np.arange(8) * tx)
    assert list(f["channel"][:cfg.organization.channels]) == list(range(cfg.organization.channels))
    assert np.all(f["row"] == 0)


def test_dramsim3_string_places_every_field_once():
    cfg = config("rorabgbachco")
    bits = field_bits(cfg)
    tx = cfg.organization.tx_bytes
    # the lowest bits are the column, then channel, bank, bank group, pseudochannel, row
    f = map_addresses(cfg, np.array([1, 1 << bits["column"]]) * tx)
    assert (f["column"][0], f["channel"][0]) == (1, 0)
    assert (f["column"][1], f["channel"][1]) == (0, 1)
    above = 1 << (bits["column"] + bits["channel"])
    assert map_addresses(cfg, np.array([above * tx]))["bank"][0] == 1


def test_a_split_column_sets_the_channel_interleave():
    cfg = config("RoBaRaCoChCo3")
    tx = cfg.organization.tx_bytes
    channel = map_addresses(cfg, np.arange(64) * tx)["channel"]
    assert list(channel[:16]) == [0] * 8 + [1] * 8
    cols = map_addresses(cfg, np.arange(1 << 12) * tx)["column"]
    assert sorted(set(cols)) == list(range(cfg.organization.column_accesses))


@pytest.mark.parametrize("mapping, message", [
    ("RoBaRaCoCx", "unknown token"), ("RoBaRaCo", "no token for the channel"),
    ("RoBaRaCoChCh", "channel appears more than once"), ("RoBaRaCo99ChCo", "gives the column"),
    ("Ro-Ba", "not a sequence of two-letter tokens")])
def test_bad_mappings_name_the_field(mapping, message):
    with pytest.raises(ConfigError, match=f"dram.controller.address_mapping: .*{message}"):
        config(mapping)
