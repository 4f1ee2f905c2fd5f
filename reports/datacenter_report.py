"""The monthly data-centre optimisation report (HTML and PDF, es/en) from the month's figures."""

from __future__ import annotations

from typing import Any

from render import catalogue, engine
from reports.datacenter_month import DatacenterMonth, Recommendation
from reports.page import MonthPage
from reports.security import control_title


def _words(lang: str) -> tuple[Any, Any]:
    """The verdict and recommendation wording, figures formatted for ``lang``."""
    tr = catalogue.translations(lang)
    fmt = engine.formats(lang)
    pct, num = fmt["pct"], fmt["num"]

    def verdict(v: str) -> str:
        if v.startswith("filesystem_filling:"):
            return tr.gettext("filesystem filling: %(mount)s") % {"mount": v.split(":", 1)[1]}
        names = {
            "underused": tr.gettext("underused (consolidation candidate)"),
            "saturated": tr.gettext("saturated"),
            "network_saturated": tr.gettext("network link saturated"),
        }
        return names.get(v, v)

    def recommend(r: Recommendation) -> str:
        g: dict[str, Any] = r.figures
        if r.kind == "consolidate":
            text = tr.gettext(
                "Consolidation candidate: CPU p95 %(cpu)s (rule < %(cpu_rule)s) and memory p95 %(mem)s "
                "(rule < %(mem_rule)s); move its workloads to another host or reduce its allocation."
            )
            return text % {"cpu": pct(g["cpu_p95"]), "cpu_rule": pct(g["cpu_rule"], 0),
                           "mem": pct(g["memory_p95"]), "mem_rule": pct(g["memory_rule"], 0)}  # fmt: skip
        if r.kind == "expand":
            text = tr.gettext(
                "Saturated: CPU p95 %(cpu)s, memory p95 %(mem)s (rule > %(rule)s); add capacity or move workloads."
            )
            return text % {"cpu": pct(g["cpu_p95"]), "mem": pct(g["memory_p95"]), "rule": pct(g["rule"], 0)}
        if r.kind == "filesystem":
            text = tr.gettext(
                "Filesystem %(mount)s reached %(max)s and grows %(slope)s points a day: full in %(days)s days "
                "(rule: %(rule)s days); enlarge it or free space."
            )
            return text % {"mount": g["mountpoint"], "max": pct(g["max"]), "slope": num(g["slope_per_day"] * 100, 2),
                           "days": num(g["days_to_full"]), "rule": num(g["rule"])}  # fmt: skip
        if r.kind == "network":
            text = tr.gettext("Network link p95 at %(p95)s of its capacity (rule > %(rule)s); upgrade or balance it.")
            return text % {"p95": pct(g["p95"]), "rule": pct(g["rule"], 0)}
        text = tr.gettext(
            "Availability %(av)s below the target %(target)s (%(down)s min down, %(inc)s incidents); "
            "add redundancy (a second instance, a cluster or failover)."
        )
        return text % {"av": pct(g["availability"], 3), "target": pct(g["target"], 1),
                       "down": num(g["downtime_seconds"] / 60, 1), "inc": g["incidents"]}  # fmt: skip

    return verdict, recommend


def render(figures: DatacenterMonth, page: MonthPage, history: list[tuple[str, DatacenterMonth]]) -> str:
    """``history``: earlier months' frozen figures, oldest first, as (YYYY-MM, figures)."""
    verdict, recommend = _words(page.lang)
    trend = [
        {"month": m, "summary": f.summary, "recommendations": len(f.recommendations)}
        for m, f in [*history, (page.key, figures)]
    ]
    return page.render(
        "datacenter.html.j2",
        figures,
        trend=trend,
        verdict=verdict,
        recommend=recommend,
        control_title=lambda c: control_title(c, page.lang),
    )
