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
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG is inlined into HTML


def zone_map(points: Sequence[tuple[str, float, float, float | None]], title: str, no_data: str) -> str:
    """Zones by lat/lon, coloured by availability (grey: no data)."""
    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    cmap = matplotlib.colormaps["RdYlGn"]
    for label, lat, lon, avail in points:
        colour = "#9e9e9e" if avail is None else cmap(max(0.0, min(1.0, (avail - 0.9) / 0.1)))
        ax.scatter(lon, lat, s=60, color=colour, edgecolors="#333333", linewidths=0.5, zorder=3)
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
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    xs = range(len(labels))
    ax.bar(list(xs), [v if v is not None else 0.0 for v in values], color="#3b6ea5")
    if target is not None:
        ax.axhline(target, color="#a11212", linewidth=0.8, linestyle="--")
    ax.set_xticks(list(xs), list(labels), rotation=90, fontsize=6)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(title, fontsize=10)
    return _svg(fig)
