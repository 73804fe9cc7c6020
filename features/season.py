"""season: the time of year of the as-of date, the same for every customer of a snapshot (context: never a driver).

Churn over the next horizon moves with the season it falls in (fewer customers go quiet before Christmas than
over the summer); with this family the model tells the training cutoffs' seasons apart and scores a date with
what it learned at the same time of year (docs/models.md, "Seasons")."""

from __future__ import annotations

import math

from features.registry import Context, Family, Feature, register

FAMILY = "season"
YEAR_DAYS = 365.25


def season_angle(ctx: Context) -> float:
    """The as-of date's position in the year as an angle: 0 at the start of 1 January, 2 pi a year later."""
    return 2 * math.pi * (ctx.as_of.timetuple().tm_yday - 0.5) / YEAR_DAYS


def _values(ctx: Context) -> dict[str, float]:
    angle = season_angle(ctx)
    return {"season_sine_of_day_of_year": math.sin(angle), "season_cosine_of_day_of_year": math.cos(angle)}


def _features(ctx: Context) -> list[Feature]:
    # ages: it moves with the calendar by construction, so drift reports never flag it between seasons
    return [
        Feature(name, FAMILY, "ratio", f"Time of year of the as-of date ({word} of the day of the year: {{value:.2f}})",
                0, fill=value, context=True, ages=True)
        for (name, value), word in zip(_values(ctx).items(), ("sine", "cosine"), strict=True)
    ]


def _columns(ctx: Context) -> dict[str, str]:
    # the same number for every customer, written as text so that every engine reads back the very same double
    return {name: f"CAST('{value!r}' AS DOUBLE)" for name, value in _values(ctx).items()}


register(Family(FAMILY, ("transactions",), _features, columns=_columns, label="Time of year"))
