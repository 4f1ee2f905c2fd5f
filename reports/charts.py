"""Charts as inline SVG from matplotlib's SVG backend: deterministic bytes for the same figures."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("svg")  # no display, no Agg raster: SVG only
import matplotlib.pyplot as plt

matplotlib.rcParams["svg.hashsalt"] = "vigia"  # stable element ids, so a re-render is byte-identical
matplotlib.rcParams["font.family"] = "DejaVu Sans"


def _svg(fig: object) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", dpi=200)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG is inlined into HTML


# Past this many zones a chart names none of them: a thousand labels (each glyph a path) made the
# 1,000-zone month close spend 11 s in matplotlib and WeasyPrint lay out 2 MB of SVG; the tables of
# the report name every zone anyway.
LABELLED_MAX = 100


def _colour(avail: float | None) -> str:
    if avail is None:
        return "#9e9e9e"
    return matplotlib.colors.to_hex(matplotlib.colormaps["RdYlGn"](max(0.0, min(1.0, (avail - 0.9) / 0.1))))


def zone_map(points: Sequence[tuple[str, float, float, float | None]], title: str, no_data: str) -> str:
    """Zones by lat/lon, coloured by availability (grey: no data); labelled up to LABELLED_MAX zones."""
    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    many = len(points) > LABELLED_MAX
    ax.scatter(
        [lon for _, _, lon, _ in points],
        [lat for _, lat, _, _ in points],
        s=20 if many else 60,
        c=[_colour(avail) for *_, avail in points] or None,
        edgecolors="#333333",
        linewidths=0.3 if many else 0.5,
        zorder=3,
        rasterized=many,
    )
    if not many:
        for label, lat, lon, _ in points:
            ax.annotate(label, (lon, lat), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("lon", fontsize=7)
    ax.set_ylabel("lat", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(True, linewidth=0.3)
    ax.scatter([], [], color="#9e9e9e", label=no_data)
    ax.legend(fontsize=6, loc="lower right")
    return _svg(fig)


def bars(labels: Sequence[str], values: Sequence[float | None], title: str, target: float | None = None) -> str:
    """One bar per label; past LABELLED_MAX labels, the values ranked as one filled curve instead
    (one path, not a thousand bars), the x axis counting labels."""
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    if len(labels) > LABELLED_MAX:
        ranked = sorted(v if v is not None else 0.0 for v in values)
        xs = list(range(1, len(ranked) + 1))
        ax.fill_between(xs, ranked, step="mid", color="#3b6ea5", linewidth=0)
        ax.set_xlim(0.5, len(ranked) + 0.5)
        ax.tick_params(labelsize=6)
    else:
        xs = list(range(len(labels)))
        ax.bar(xs, [v if v is not None else 0.0 for v in values], color="#3b6ea5")
        ax.set_xticks(xs, list(labels), rotation=90, fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
    if target is not None:
        ax.axhline(target, color="#a11212", linewidth=0.8, linestyle="--")
    ax.set_title(title, fontsize=10)
    return _svg(fig)
