"""The percent figures every report and the status page print: kept by their rounded value, they
must read exactly as Babel writes the figure itself (es_CO "99,2 %", English "99.2%")."""

from __future__ import annotations

from babel import Locale
from babel.numbers import format_percent
from hypothesis import example, given, settings
from hypothesis import strategies as st

from render.catalogue import LOCALES
from render.engine import formats

figures = st.floats(allow_nan=False, allow_infinity=False, min_value=-2.0, max_value=2.0) | st.sampled_from(
    [0.0, -0.0, 0.9995, 0.99949999, 0.00005, -0.00005, 0.12345, 1e-12, float("inf"), float("-inf"), float("nan")]
)


@settings(max_examples=600, deadline=None)
@given(figures, st.integers(0, 3), st.sampled_from(sorted(LOCALES)))
@example(0.00005, 1, "es")
@example(-0.00004, 1, "es")  # "-0,0 %", as Babel writes it: the sign is part of what is kept
def test_a_kept_percent_reads_as_babel_writes_it(value: float, digits: int, lang: str) -> None:
    locale = Locale.parse(LOCALES[lang])
    sign = " %" if lang == "es" else "%"
    pct = formats(lang)["pct"]
    for _ in range(2):  # made, then read from what was kept
        assert pct(value, digits) == format_percent(value, format="#,##0." + "0" * digits + sign, locale=locale)
    assert pct(None) == "—"
