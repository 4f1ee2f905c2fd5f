"""The strict model base every configuration section builds on, and the text type of inventory
fields (names, barrios, reasons) that reach reports, CSV, feeds and terminals."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from kernel.spec import valid_regex
from kernel.text import controls, escape_char
from kernel.units import check_interval, parse_duration


class Strict(BaseModel):
    """Strict types, unknown keys refused, frozen: a typo in a file is an error, never a default."""

    # defer_build: a model's validator is built when it first validates, not when its module is
    # imported: a zone agent imports models it never uses, and each built one costs memory.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def _plain(value: str) -> str:
    found = controls(value)
    if found:
        at, char = found[0]
        raise ValueError(f"has a control character ({escape_char(char)}) at character {at}: write plain text")
    return value


# Text that people read in outputs: a CR in a barrio split an open-data CSV row, an ESC in a name
# would recolour the terminal of whoever lists it. Refused where it is written.
PlainText = Annotated[str, AfterValidator(_plain)]


# A duration as written in files ("30s", "1m30s"; kernel.units reads them).
Duration = Annotated[float, BeforeValidator(parse_duration)]
# How often something is probed: at least a second apart, at most a day.
Interval = Annotated[float, BeforeValidator(parse_duration), AfterValidator(check_interval)]
# A regular expression, refused with its reason when it does not compile.
Regex = Annotated[str, BeforeValidator(valid_regex)]
