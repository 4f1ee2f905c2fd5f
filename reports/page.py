"""What every report page shares: the quality system's header, a month's page, the reports'
template folder. The engine itself is the render layer's (``render.engine``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from config.sections import ReportSettings
from render import engine

TEMPLATES = Path(__file__).parent / "templates"

_SETTINGS = ReportSettings()


@dataclass(frozen=True)
class Header:
    """The document header the office's quality system asks for (configurable: reports.* in the
    configuration, whose defaults are these)."""

    entity: str = _SETTINGS.entity
    office: str = _SETTINGS.office
    macroprocess: str = _SETTINGS.macroprocess
    process: str = _SETTINGS.process
    code: str = _SETTINGS.code
    version: str = _SETTINGS.version

    @classmethod
    def of(cls, rs: ReportSettings) -> Header:
        return cls(rs.entity, rs.office, rs.macroprocess, rs.process, rs.code, rs.version)


@dataclass(frozen=True)
class ReportOptions:
    """How a month's reports are made, decided once (the configuration's reports section, the
    command line's --lang and --format over it) and handed down whole."""

    languages: tuple[str, ...]
    formats: tuple[str, ...]  # html, pdf, csv (open data)
    header: Header
    entity: str  # the open data's publisher
    contact: str
    incident_classes: dict[str, str] = field(default_factory=dict)  # a reason code's class, by code

    @classmethod
    def of(
        cls, rs: ReportSettings, languages: Sequence[str] | None = None, formats: Sequence[str] | None = None
    ) -> ReportOptions:
        return cls(
            tuple(languages or rs.languages), tuple(formats or rs.formats), Header.of(rs), rs.entity, rs.contact,
            dict(rs.incident_classes),
        )  # fmt: skip


def render_html(template: str, lang: str, **context: Any) -> str:
    """One of the reports' templates (``reports/templates``)."""
    return engine.render_html(TEMPLATES, template, lang, **context)


@dataclass(frozen=True)
class MonthPage:
    """What every monthly report page shares: its month, zone, language, header and issue date."""

    year: int
    month: int
    tz: str
    lang: str
    header: Header
    generated: datetime

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def render(self, template: str, figures: Any, **context: Any) -> str:
        zone = ZoneInfo(self.tz)
        return render_html(
            template,
            self.lang,
            header=self.header,
            f=figures,
            month_start=date(self.year, self.month, 1),
            generated=self.generated.astimezone(zone),
            tz=self.tz,
            **context,
        )
