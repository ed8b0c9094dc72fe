"""An rdu Program as a compiler listing: its sections, each section's stages, and tiers."""
from __future__ import annotations

import numpy as np

from accsim.arch.rdu.ir import D2D, DDR, HBM, PCU, UNITS
from accsim.core.program import Program

MAX_SECTIONS = 40


def describe_program(program: Program) -> list:
    """[(title, header, rows)]: the sections (identical programs marked), the stages of the
    first section of each distinct program, and where the symbols live."""
    meta = program.meta
    sections = meta.get("sections", [])
    rows = [(i, s["program_id"], len(s["ops"]), s["steps"], s["pcus"], s["pmus"],
             ", ".join(s["ops"][:3]) + (" ..." if len(s["ops"]) > 3 else ""))
            for i, s in enumerate(sections[:MAX_SECTIONS])]
    tables = [(f"sections (kernel calls): {len(sections)}, {len({s['program_id'] for s in sections})} "
               f"distinct programs" + (f"; first {MAX_SECTIONS} shown" if len(sections) > MAX_SECTIONS else ""),
               ("section", "program", "stages", "steps", "PCUs", "PMUs", "operators"), rows)]
    cols = program.columns
    shown: set = set()
    for number, s in enumerate(sections):
        if s["program_id"] in shown or len(shown) >= 3:
            continue
        shown.add(s["program_id"])
        tables.append((f"section {number}: stages", ("stage", "operator", "kind", "die", "PCUs", "PMUs",
                                                     "HBM read bytes", "DDR read bytes", "stored bytes",
                                                     "to other die bytes"),
                       _stage_rows(program, cols["section"] == number)))
    place = meta.get("placement", {})
    ddr = place.get("ddr_symbols", [])
    tables.append(("tier placement (per socket)", ("tier", "bytes", "symbols"),
                   [("SRAM (PMU)", "-", "intermediates inside a section (stage buffers)"),
                    ("HBM", place.get("hbm_bytes", 0), "weights, KV caches, section inputs/outputs"),
                    ("DDR", place.get("ddr_bytes", 0), ", ".join(ddr[:6]) + (" ..." if len(ddr) > 6 else "") or "-")]))
    return tables


def _stage_rows(program: Program, in_section: np.ndarray) -> list:
    cols = program.columns
    rows = []
    idx = np.flatnonzero(in_section)
    stage = cols["stage"][idx]
    for s in np.unique(stage[cols["unit"][idx] != 0]):
        mine = idx[stage == s]
        unit, nbytes = cols["unit"][mine], cols["bytes"][mine]
        compute = mine[(unit == PCU) | (unit == UNITS.index("link"))]
        first = compute[0]
        rows.append((int(s), program.ops[cols["op"][first]], program.kinds[cols["kind"][first]],
                     int(cols["die"][first]), int(cols["pcus"][first]), int(cols["pmus"][first]),
                     int(nbytes[(unit == HBM) & ~cols["store"][mine]].sum()), int(nbytes[unit == DDR].sum()),
                     int(nbytes[cols["store"][mine] & (unit == HBM)].sum()), int(nbytes[unit == D2D].sum())))
    return rows

