"""activity: what a customer does, per event type (posts, likes, new friends...), and how it changes.

Every event type of the data that no other family knows gets features of its own: counts in the last 30,
90 and 365 days and in the 30 days before the last 30 (the trend: "2 posts in the last 30 days, down from 9
in the 30 before"), its events per active day over 90 days (its weight in what the customer does), days
since the last one, the customer's usual gap between two of them and how many usual gaps the days since the
last one make, and, for types whose events carry values, their mean and sum over 90 days. The known
types (``pipeline.core.schema.KNOWN_EVENT_TYPES``: visits, complaints, NPS...) stay in their own families, which
say more about them (a visit's fading, an NPS detractor), and get no generic copies: the same signal twice
would only split its importance in two.

Which types get features is fixed per build, not per shard or customer (``choose_event_types``): the
``features.max_event_types`` most frequent unknown types as of the as-of date, by count then name; the
rest stay counted together in ``other_events_last_90d`` (engagement) and are named in a notice. The choice
is kept with a model, so scoring builds the same columns: a type seen at training and absent at scoring
gives zeros, not a missing feature. Names are built from the type (``slug``): any text is safe.

Counts and days since the last event are reasons only where they mean something. For an activity of which
fewer means more risk, a count alone is none (its fall is said against the 30 days before), nor are the days
since the last one, but for a customer who had a habit of it (``HABIT_EVENTS`` events or more, a usual gap of
a day or more) and is now ``OVERDUE_GAPS`` times that gap past the last one: "No posts for 95 days, against
one every 12 days before"; never "No webinars for 307 days" of someone who went to one once, or goes to one a
year. For a risky activity, the days since the last one are a reason only when it was recent.

Beside the per-type features: days active in the last 30 days and the 30 before, events per active day
(usage), and the user's declared ratios of opposite activities (``features.event_ratios``: dislikes per
like, unfriends per new friend).
"""

from __future__ import annotations

import hashlib
import re

from features.registry import Context, Family, Feature, plural, register
from pipeline.core.schema import KNOWN_EVENT_TYPES, SCHEMAS
from pipeline.core.sql import sql_string

FAMILY = "activity"
RECENT_DAYS = 30  # the trend compares the last 30 days with the 30 before: one billing cycle of a monthly product
COUNT_WINDOWS = (30, 90, 365)
MIX_DAYS = 90  # events per active day, mean and sum of values
MAX_SLUG = 40
ACTIVE_DAYS = "activity_helper_active_days_90d"
# "Not active in the last 30 days" needs no row of any other kind in those days: (feature, operator, bound) on the
# days since the customer's last row of a kind, or on the rows of a kind in those days (missing: none, or no table).
# The invoices' and the subscriptions' are condition-only features (Feature.model_input): as model inputs they moved
# the other features' shares of the model's gain and silenced the late-payment cause.
NOT_ACTIVE_ROWS = (("days_since_last_return", ">= or missing", RECENT_DAYS),
                   (f"invoices_issued_or_paid_last_{RECENT_DAYS}d", "<= or missing", 0),
                   ("days_since_last_subscription_start_or_end", ">= or missing", RECENT_DAYS),
                   ("days_since_last_renewal_charge", ">= or missing", RECENT_DAYS),
                   ("days_since_signup", ">= or missing", RECENT_DAYS))
HABIT_EVENTS = 4  # events of a type before a customer has a usual gap between them: three gaps, not one or two
# A gap of twice the usual one happens by chance after 14% of a steady (Poisson) habit's events, against 37% for
# one usual gap: past it, the customer has most likely changed, not just paused.
OVERDUE_GAPS = 2.0


Types = tuple[str, ...]


def choose_event_types(frequencies: list[tuple[str, int, bool]], limit: int) -> tuple[Types, Types, Types]:
    """The event types that get activity features: of ``frequencies`` ((type, events, any value) as of the
    as-of date), the ``limit`` most frequent types no other family knows, by count then name (the same
    for any order of rows, shards or runs). Returns (chosen, those of them with values, the others left out)."""
    unknown = sorted((f for f in frequencies if f[0] not in KNOWN_EVENT_TYPES), key=lambda f: (-f[1], f[0]))
    chosen = unknown[:limit]
    return (tuple(f[0] for f in chosen), tuple(f[0] for f in chosen if f[2]), tuple(f[0] for f in unknown[limit:]))


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def _plain_slug(event_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_")


def type_names(slug: str) -> tuple[str, ...]:
    """Every feature name an event type's slug makes (beside ratios, which join two slugs with ``_per_``)."""
    return (*[f"{slug}_events_last_{w}d" for w in COUNT_WINDOWS], f"{slug}_events_previous_{RECENT_DAYS}d",
            f"{slug}_events_change_{RECENT_DAYS}d", f"{slug}_events_per_active_day_{MIX_DAYS}d",
            f"days_since_last_{slug}_event", f"{slug}_usual_days_between_events", f"{slug}_gap_ratio_since_last_event",
            f"{slug}_value_mean_{MIX_DAYS}d", f"{slug}_value_sum_{MIX_DAYS}d")


def reserved_names() -> frozenset[str]:
    """The names of every built-in feature other than a type's own (those of every other registered family, given
    no data-dependent settings, and this family's fixed ones): an event type named ``other`` would otherwise make
    ``other_events_last_90d``, engagement's count of other events."""
    from datetime import date

    from features.registry import FAMILIES

    ctx = Context(as_of=date(2000, 1, 1), tables=frozenset(SCHEMAS))
    names = {f"active_days_{w}_{RECENT_DAYS}d" for w in ("last", "previous", "change")}
    names |= {f"events_per_active_day_{MIX_DAYS}d", ACTIVE_DAYS}
    for family in FAMILIES.values():
        if family.name == FAMILY:
            continue
        try:
            names |= {f.name for f in family.features(ctx)}
        except Exception:  # noqa: BLE001 a family whose features need settings of a build: its fixed names below
            continue
    return frozenset(names)


def slugs(event_types: tuple[str, ...]) -> dict[str, str]:
    """A safe, stable name part per event type: lower-case ASCII letters, digits and ``_``. The plain slug of
    a type whose text is not plain ASCII (Cyrillic, symbols), is long, starts with a digit or shares its slug
    with another type gets a short hash of the exact type text; the slug depends only on the types, never
    on their order."""
    plain = {t: _plain_slug(t) for t in event_types}
    reserved = reserved_names() if event_types else frozenset()
    out = {}
    for t, s in plain.items():
        # a type whose names would be a built-in feature's (``other``) is hashed as a clash between types is
        shared = sum(1 for other in plain.values() if other == s) > 1 or not reserved.isdisjoint(type_names(s))
        ascii_only = t.isascii() and re.fullmatch(r"[A-Za-z0-9_\- .]+", t) is not None
        if shared or not ascii_only or not s or len(s) > MAX_SLUG or s[0].isdigit():
            s = f"{s[:MAX_SLUG]}_{_hash(t)}" if s and not s[0].isdigit() else f"type_{s[:MAX_SLUG]}_{_hash(t)}".replace("__", "_")
        out[t] = s
    return out


def _safe_words(text: str) -> str:
    """Words for a template: braces, brackets and bars would be read as template syntax."""
    return re.sub(r"\s+", " ", text.replace("{", "(").replace("}", ")").replace("[", "(").replace("]", ")")
                  .replace("|", "/").replace(":", " ")).strip() or "events"


def _singular(words: str) -> str:
    """The inverse of :func:`features.registry.plural` for a label given only in the plural (``new friends``)."""
    for end, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x")):
        if words.endswith(end):
            return words[: -len(end)] + repl
    return words[:-1] if words.endswith("s") and not words.endswith("ss") else words


def label(event_type: str, labels: dict[str, str]) -> tuple[str, str]:
    """(singular, plural) words for a type: ``features.event_labels`` (``"new friends"`` or ``"reply|replies"``)
    or made from the type's name (``page_view`` -> page view, page views); a name that is not plain English
    text is quoted as it is (``"покупка" events``)."""
    given = labels.get(event_type)
    if given:
        one, bar, many = given.partition("|")
        one, many = _safe_words(one), _safe_words(many) if bar else _safe_words(one)
        return (one if bar else _singular(many)), many
    words = _safe_words(re.sub(r"[_\-.]+", " ", event_type).lower())
    plain = event_type.isascii() and re.fullmatch(r"[a-z ]+", words) is not None
    # a name ending in a verb's past form (webinar_attended) is no noun to put in the plural ("webinar attendeds"):
    # its noun takes the plural instead ("webinars attended", "items purchased"); a verb alone stays quoted
    noun, _, verb = words.rpartition(" ")
    if plain and words.endswith("ed") and noun:
        return words, f"{plural(noun, 2)} {verb}"
    if plain and not words.endswith("ed"):
        return words, plural(words, 2)
    quoted = words if plain else _safe_words(event_type)
    return f'"{quoted}" event', f'"{quoted}" events'


def _direction(ctx: Context, event_type: str) -> int:
    """-1: fewer events mean more risk (the usual: posting, liking); +1 for ``features.risky_event_types``."""
    return 1 if event_type in ctx.risky_event_types else -1


def _names(ctx: Context) -> dict[str, str]:
    ratio_types = tuple(t for n, d, _, _ in ctx.event_ratios for t in (n, d))
    return slugs(tuple(sorted(set(ctx.event_types) | set(ratio_types))))


def _ratio_name(names: dict[str, str], numerator: str, denominator: str, days: int) -> str:
    return f"{names[numerator]}_per_{names[denominator]}_{days}d"


def _trend(name: str, last: str, prev: str, what: str, direction: int, fact: str) -> Feature:
    """The change from the 30 days before to the last 30, said with both counts (``what`` formats a count)."""
    def say(word: str) -> str:
        return (f"{{{last}:{what}}} in the last {RECENT_DAYS} days, {word} {{{prev}:n}} in the {RECENT_DAYS} before")
    return Feature(name, FAMILY, "count", say("up from"), direction, fill=0, negative=say("down from"),
                   zero=say("as many as"), compares=(last, prev), fact=fact)


def _features(ctx: Context) -> list[Feature]:
    labels = dict(ctx.event_labels)
    r = RECENT_DAYS
    out = [
        Feature(f"active_days_last_{r}d", FAMILY, "count", f"Active on {{value:count:day}} in the last {r} days", -1,
                fill=0, zero=f"Not active in the last {r} days", fact="recent_activity",
                # not active means no purchase in those days either (active days count events only) ...
                said_when=(("days_since_last_purchase", ">=", r),),
                # ... and no row of any other kind: a return, an invoice issued or paid, a subscription started or
                # ended, a signup (a customer without such rows, or a build without the table, has none)
                zero_when=NOT_ACTIVE_ROWS),
        Feature(f"active_days_previous_{r}d", FAMILY, "count",
                f"Active on {{value:count:day}} in the {r} days before the last {r}", 0, fill=0),
        _trend(f"active_days_change_{r}d", f"active_days_last_{r}d", f"active_days_previous_{r}d",
               "count:active day", -1, "recent_activity"),
        # how busy an active day is: a description of the customer's mix, not a risk by itself (direction 0)
        Feature(f"events_per_active_day_{MIX_DAYS}d", FAMILY, "ratio",
                f"{{value:.1f}} activities a day on the days they were active in the last {MIX_DAYS} days", 0),
    ]
    names = _names(ctx)
    for t in ctx.event_types:
        s, (one, many), d = names[t], label(t, labels), _direction(ctx, t)
        word = f"{one}|{many}"
        # a count of a risky activity is a reason when there is some; a low count of the usual kind says no
        # change by itself ("No webinars in the last 90 days" of someone who never went): its fall is said against
        # the 30 days before (the trend) and against the customer's habit (the gap ratio)
        counted, some = (d, 0) if d > 0 else (0, None)
        last, prev = f"{s}_events_last_{r}d", f"{s}_events_previous_{r}d"
        fact = f"activity_{s}"  # one fact per event type: its counts, trend and lapse say how much they do it
        since, usual = f"days_since_last_{s}_event", f"{s}_usual_days_between_events"
        out += [
            *[Feature(f"{s}_events_last_{w}d", FAMILY, "count", f"{{value:count:{word}}} in the last {w} days",
                      counted, fill=0, neutral=some, zero=f"No {many} in the last {w} days", fact=fact)
              for w in COUNT_WINDOWS],
            Feature(prev, FAMILY, "count", f"{{value:count:{word}}} in the {r} days before the last {r}", 0, fill=0),
            _trend(f"{s}_events_change_{r}d", last, prev, f"count:{word}", d, fact),
            Feature(f"{s}_events_per_active_day_{MIX_DAYS}d", FAMILY, "ratio",
                    f"{{value:.2f}} {many} a day on the days they were active in the last {MIX_DAYS} days", 0, fill=0),
            # the days alone are a reason only for a risky activity done recently; for the usual kind, how
            # overdue the customer is against their own habit says it (next features); never having done an
            # activity is not a change in behaviour: no reason
            Feature(since, FAMILY, "days",
                    f"No {many} for {{value:count:day}}" if d < 0 else f"Last of their {many} {{value:ago}}",
                    0 if d < 0 else -d, neutral=None if d < 0 else RECENT_DAYS, fact=fact),
            # the habit and how far past it the customer is say a lapse, the churn model's signal and the reasons'
            # words: no inputs of value if retained (Feature.value_input)
            Feature(usual, FAMILY, "days", f"Usually one {one} {{value:every}}", 0, value_input=False),
            # overdue against their habit: OVERDUE_GAPS usual gaps past the last one, and a material change by the
            # shared rule (features.registry.material_change)
            Feature(f"{s}_gap_ratio_since_last_event", FAMILY, "ratio",
                    f"No {many} for {{{since}:count:day}}, against one {{{usual}:every}} before",
                    -d if d < 0 else 0, neutral=OVERDUE_GAPS if d < 0 else None, compares=(since, usual),
                    value_input=False, fact=fact),
        ]
        if t in ctx.valued_event_types:
            out += [
                Feature(f"{s}_value_mean_{MIX_DAYS}d", FAMILY, "value",
                        f"Their {many} in the last {MIX_DAYS} days had a value of {{value:,.2f}} on average", 0),
                Feature(f"{s}_value_sum_{MIX_DAYS}d", FAMILY, "value",
                        f"Their {many} in the last {MIX_DAYS} days add up to a value of {{value:,.2f}}", 0, fill=0),
            ]
    for n, dn, w, direction in ctx.event_ratios:
        (_, n_many), (d_one, _) = label(n, labels), label(dn, labels)
        out.append(Feature(_ratio_name(names, n, dn, w), FAMILY, "ratio",
                           f"{{value:.2f}} {n_many} per {d_one} in the last {w} days", direction,
                           neutral=0 if direction > 0 else None))
    return out


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    """Per-customer aggregates over ``ev``, computed in the one pass over the events that every event family shares
    (``features.registry.Family``): conditional counts per type and window, and the features made from them."""
    names = _names(ctx)
    in_window = ctx.in_window
    # The days active in the last 90, one bit per day back from the as-of date (``age``): the active days of any
    # window within them are the bits set in its range, counted exactly, without a DISTINCT hash table per window.
    # Every window counted so lies within the MIX_DAYS bits, and those fit the 128 of a HUGEINT.
    if not (2 * RECENT_DAYS <= MIX_DAYS < 128):
        raise ValueError(f"activity: active days are counted in {MIX_DAYS} day bits, which must hold the last "
                         f"{RECENT_DAYS} days and the {RECENT_DAYS} before, and fit 128 bits")
    days = f"coalesce(bit_or(CASE WHEN {in_window(MIX_DAYS)} THEN CAST(1 AS HUGEINT) << age END), 0)"

    def active_days(window: int, offset: int = 0) -> str:
        bits = f"((CAST(1 AS HUGEINT) << {offset + window}) - (CAST(1 AS HUGEINT) << {offset}))"
        return f"CAST(bit_count(activity_helper_active_day_bits & {bits}) AS BIGINT)"

    cols = [
        f"{days} AS activity_helper_active_day_bits",
        f"{active_days(RECENT_DAYS)} AS active_days_last_{RECENT_DAYS}d",
        f"{active_days(RECENT_DAYS, RECENT_DAYS)} AS active_days_previous_{RECENT_DAYS}d",
        f"active_days_last_{RECENT_DAYS}d - active_days_previous_{RECENT_DAYS}d AS active_days_change_{RECENT_DAYS}d",
        # days active over 90 days, counted once (a helper column, not a feature) for every per-day rate
        f"{active_days(MIX_DAYS)} AS {ACTIVE_DAYS}",
        f"count(*) FILTER (WHERE {in_window(MIX_DAYS)}) / nullif({ACTIVE_DAYS}, 0) "
        f"AS events_per_active_day_{MIX_DAYS}d",
    ]
    for t in ctx.event_types:
        s, is_t = names[t], f"event_type = {sql_string(t)}"
        cols += [f"count(*) FILTER (WHERE {is_t} AND {in_window(w)}) AS {s}_events_last_{w}d"
                 for w in COUNT_WINDOWS]
        cols += [
            f"count(*) FILTER (WHERE {is_t} AND {in_window(RECENT_DAYS, RECENT_DAYS)}) "
            f"AS {s}_events_previous_{RECENT_DAYS}d",
            f"{s}_events_last_{RECENT_DAYS}d - {s}_events_previous_{RECENT_DAYS}d AS {s}_events_change_{RECENT_DAYS}d",
            f"{s}_events_last_{MIX_DAYS}d / nullif({ACTIVE_DAYS}, 0) AS {s}_events_per_active_day_{MIX_DAYS}d",
            f"{ctx.days_since(f'max(timestamp) FILTER (WHERE {is_t})')} AS days_since_last_{s}_event",
            # the usual gap: the days from their first to their last event over the gaps between them; none
            # before a habit (HABIT_EVENTS), nor for several a day (a fall of those shows in the counts)
            f"count(*) FILTER (WHERE {is_t}) AS activity_helper_{s}_events",
            f"{ctx.days_since(f'min(timestamp) FILTER (WHERE {is_t})')} - days_since_last_{s}_event "
            f"AS activity_helper_{s}_span_days",
            f"CASE WHEN activity_helper_{s}_events >= {HABIT_EVENTS} AND activity_helper_{s}_span_days >= "
            f"activity_helper_{s}_events - 1 THEN activity_helper_{s}_span_days / (activity_helper_{s}_events - 1) "
            f"END AS {s}_usual_days_between_events",
            f"days_since_last_{s}_event / {s}_usual_days_between_events AS {s}_gap_ratio_since_last_event",
        ]
        if t in ctx.valued_event_types:
            # a sum of exact decimals over a count: the same inputs give the same mean, whatever the threads
            cols += [
                f"sum(value) FILTER (WHERE {is_t} AND {in_window(MIX_DAYS)}) / "
                f"nullif(count(value) FILTER (WHERE {is_t} AND {in_window(MIX_DAYS)}), 0) "
                f"AS {s}_value_mean_{MIX_DAYS}d",
                f"sum(value) FILTER (WHERE {is_t} AND {in_window(MIX_DAYS)}) AS {s}_value_sum_{MIX_DAYS}d",
            ]
    for n, d, w, _ in ctx.event_ratios:
        count = "count(*) FILTER (WHERE event_type = {} AND " + in_window(w) + ")"
        cols.append(f"{count.format(sql_string(n))} / nullif({count.format(sql_string(d))}, 0) "
                    f"AS {_ratio_name(names, n, d, w)}")
    return {"ev": cols}


register(Family(FAMILY, ("events",), _features, aggregates=_aggregates, label="Activity (every event type)"))
