"""One colour per thing in every figure: an op kind keeps its colour between the PNG breakdown
and the HTML report, phases are blue and orange, and a faceted sweep shares one legend with one
colour per value across its panels."""

import pytest

from accsim.view.palette import OKABE_ITO, PHASES, SERIES, colour_of

pytestmark = pytest.mark.unit


def test_colours_are_fixed_per_name_and_phases_avoid_red_against_green():
    assert colour_of("matmul") == colour_of("matmul") and colour_of("some_new_kind") in SERIES
    assert colour_of("matmul") != colour_of("attn_score")
    assert set(PHASES.values()) <= set(OKABE_ITO) and "#FF0000" not in PHASES.values()


def test_the_png_breakdown_and_the_html_report_colour_op_kinds_alike(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import colors
    from accsim.cli import main
    from accsim.view.plots import plot_breakdown
    from accsim.view.report import run_report
    stats = tmp_path / "s.json"
    assert main(["run", "--gen", "2", "--quiet", "--json", str(stats)]) in (0, None)
    html = run_report(stats)
    for kind in ("matmul", "launch", "attn_score"):
        assert f'"marker":{{"color":"{colour_of(kind)}"}},"name":"{kind}"' in html.replace(" ", "")
    import matplotlib.pyplot as plt
    seen = {}
    original = plt.Axes.bar

    def record(self, *args, label=None, color=None, **kw):
        seen[label] = color
        return original(self, *args, label=label, color=color, **kw)
    plt.Axes.bar = record
    try:
        plot_breakdown(stats, tmp_path / "b.png")
    finally:
        plt.Axes.bar = original
    assert all(colors.to_hex(seen[k]) == colour_of(k).lower() for k in ("matmul", "launch", "attn_score"))
    assert colors.to_hex(seen["decode"]) == PHASES["decode"].lower()


def test_labels_placed_around_crowded_points_do_not_overlap():
    """Up to ten labels on nearly the same point (a crowded roofline) find boxes that meet no
    other label's; a repeated label on the same point is drawn once."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from accsim.view.plots import place_labels
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [1.0, 1.02, 1.05, 0.98, 1.0, 10.0, 10.0]
    ys = [1e12, 1.05e12, 0.95e12, 1.02e12, 1e12, 1e9, 1e9]
    texts = ["softmax", "activation", "rmsnorm", "elementwise", "softmax", "sampling", "sampling"]
    ax.scatter(xs, ys)
    ax.set_xscale("log")
    ax.set_yscale("log")
    boxes = place_labels(ax, xs, ys, texts)
    assert len(boxes) == 5                    # the repeated softmax and sampling drawn once each
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    plt.close(fig)
