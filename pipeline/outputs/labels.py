"""Every word people read about a run's results: the report, Excel, the command line and the outcomes page take
their band, group, tier and rule wording from here, so they call each thing by the same name. Family words are
declared with each family (``Family.label``, read through ``features.registry.family_label``); the churn
definition and the population rule are worded in ``pipeline.build.problem``, where the build logs them, and used
from here. The risk list itself keeps its codes (``high``, ``holdout``, ``at_risk``): only what is shown changes.

An unknown name (a band, tier or group a newer params file adds) is shown in words, never dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import features  # noqa: F401  (imported to register every family, and so its label)
from features.registry import family_label, words
from pipeline.build.problem import churn_definition, population_rule
from pipeline.core.config import Params
from pipeline.core.money import money

# The names of the things a reader meets, as headers and definition terms (keys: the risk list's columns where
# there is one).
TERMS = {
    "as_of": "As of",
    "churn": "Churn means",
    "population": "Who is scored",
    "risk_band": "Risk band",
    "risk_bands": "Risk bands",
    "loyalty_tier": "Value tier",
    "loyalty_tiers": "Value tiers",
    "contact_group": "Contact group",
    "model": "Model",
    "currency": "Currency",
}

BANDS = {"high": "High risk", "medium": "Medium risk", "low": "Low risk"}
# Loyalty tiers rank expected value: they are named by value ("at_risk" or "Dormant" would read like a second risk
# band beside the bands), and every table that shows them shows each tier's churn rate beside it.
TIERS = {"champion": "Top value", "loyal": "High value", "steady": "Middle value", "at_risk": "Low value",
         "dormant": "Very low value"}
# The call list's groups: what an agent does with the customer, said in the group's name.
CONTACT_GROUPS = {"treatment": "Contact", "holdout": "Hold out — do not contact", "not_selected": "Not selected",
                  "win_back": "Win back"}
HOLDOUT_PURPOSE = "kept out of contact on purpose, to measure whether contacting works"
GROUP_MEANINGS = {
    "treatment": "contact this customer",
    "holdout": f"{HOLDOUT_PURPOSE}: do not contact",
    "not_selected": "a contact is expected to cost more than it saves, or the customer is beyond this run's capacity: "
                    "not contacted this run",
    "win_back": "no purchase for far longer than their usual gap and than the horizon: lost already, so for the "
                "win-back campaign (its own list), not a retention call",
}
NET_SAVING = "Expected net saving"
# Whom the call helps (docs/effects.md): the four groups by a customer's predicted effect of contact
EFFECT_GROUPS = {"persuadable": "Persuadable", "sure_thing": "Sure thing", "lost_cause": "Lost cause",
                 "do_not_disturb": "Do not disturb"}
EFFECT_GROUP_MEANINGS = {
    "persuadable": "the contact is predicted to keep them (their churn probability falls by 2 points or more)",
    "sure_thing": "likely to stay whatever is done: a contact changes little",
    "lost_cause": "likely to leave whatever is done: a contact changes little",
    "do_not_disturb": "a contact is predicted to push them away: never contacted",
}
QINI = "Qini coefficient"
EFFECTS_SECTION = "Whom the call helps"
EFFECT_GROUP = "Effect group"
WHY_THIS_ACTION = "Why this action"
UPLIFT_CURVE = "Uplift (Qini) curve"
TOP_OF_LIST = {"by_effect": "By predicted effect", "by_risk": "By churn risk", "random": "Everyone (random)"}
WIN_BACK_LIST = "Win-back list"
# The Excel workbook's sheets (pipeline.outputs.excel), in their order; a sheet without customers is left out.
SHEET_NAMES = {"call_list": "call list", "held_out": "held out", "win_back": "win-back", "all_columns": "all columns",
               "definitions": "definitions"}
HELD_OUT_SHEET = "Held-out customers"
HELD_OUT_WHY = (f'The customers on the "{SHEET_NAMES["held_out"]}" sheet were selected for contact and are '
                f"{HOLDOUT_PURPOSE}: do not call, mail or make them an offer in this run. A contact would spoil the "
                "comparison that tells whether the calls keep customers. They are not on the call list.")
# The risk list's columns as the analysts' sheet heads them (amounts get their currency and period from
# ``column_header``); a column not named here is read by ``feature_label``.
COLUMN_TERMS = {
    "customer_id": "Customer", "as_of": TERMS["as_of"], "churn_probability": "Churn probability",
    "risk_band": TERMS["risk_band"], "loyalty_score": "Loyalty score (0-100)", "loyalty_tier": TERMS["loyalty_tier"],
    "expected_value": "Expected value", "value_if_retained": "Value if retained", "value_at_risk": "Value at risk",
    "lifetime_value": "Lifetime value", "model_version": TERMS["model"], "action": "Suggested action",
    "action_effect": "Expected effect of the action (share of would-be churners kept)", "priority": "Priority",
    "contact_group": TERMS["contact_group"], "predicted_effect": "Predicted fall in churn probability if contacted",
    "effect_group": EFFECT_GROUP, "effect_model_version": "Effect model",
    "previous_probability": "Churn probability on the last list", "probability_change": "Change in churn probability",
    "previous_band": "Risk band on the last list", "change_reason": "Why the risk changed",
}
DRIVER_TERMS = {"reason": "Reason {k}", "feature": "Reason {k}: feature", "family": "Reason {k}: family",
                "value": "Reason {k}: the customer's value", "effect": "Reason {k}: effect on churn probability"}
# Amounts over the horizon (the value model's period) and over the lifetime of lifetime_value
HORIZON_AMOUNTS = ("expected_value", "value_if_retained", "value_at_risk", "priority")
# How the suggested action was chosen (scoring.actions; pipeline.scoring.targeting.choose_actions), said the same in
# the report and in Excel.
ACTION_CHOICE = ("The action of the customer's highest-ranked reason whose conditions hold on their own data (a "
                 "payment plan needs an overdue invoice or paying a week late on average, a returns follow-up a return "
                 "in the last 90 days, a senior agent's call a complaint or a slow reply in the last 90 days and high "
                 "risk (below it, a follow-up of those requests), a replenishment reminder a usual cycle of three gaps "
                 "or more not lapsed beyond two); a reason with no fitting action passes to the next, and without any "
                 "the default action, which is never called. On the win-back list, the win-back action")
ACTION_CHOICE_BY_EFFECT = ("The action of highest expected net saving by the learned effect model, among the actions "
                           "whose conditions hold on the customer's own data (see the next columns); on the win-back "
                           "list, the win-back action")

_WORDS = {"nps": "NPS", "csat": "CSAT", "btyd": "purchase model", "cv": "variation of", "std": "spread of",
          "avg": "average", "pct": "percent"}


def effect_reason(action: object, effect: object, saving: object, group: object, currency: str = "") -> str:
    """Why this action, in words, from a risk-list row's ``action``, ``predicted_effect``, ``priority`` and
    ``effect_group`` (empty without an effect model's group)."""
    if not isinstance(group, str) or not isinstance(effect, int | float) or effect != effect:
        return ""
    if group == "do_not_disturb":
        return (f"Do not contact: every action that fits them is predicted to raise their churn probability "
                f"(the least harmful by {-effect * 100:.1f} points)")
    return (f"{action}: predicted to lower their churn probability by {effect * 100:.1f} points, an expected net "
            f"saving of {money_words(float(saving), currency)} after costs, the highest of the actions that fit them")


def effects_used_words(effects: Mapping) -> str:
    """Which effects the call list used, in a sentence, from the summary's ``targeting.effects``
    (``pipeline.scoring.run.effects_used``): the learned effect model, or one average effect per action, the
    shipped assumptions or values set in ``targeting.action_effects``."""
    used = effects.get("used")
    if used == "effect_model":
        lists = effects.get("lists")
        return (f"The call list targets by the effect model {effects.get('model_version') or ''}, learned from "
                f"{lists or 'past'} list{'' if lists == 1 else 's'} and their holdouts (the last as of "
                f"{effects.get('learned_as_of') or 'unknown'}): each customer gets the action of highest expected net "
                "saving by their own predicted effect, and customers whom every action that fits them is predicted to "
                "push away are never contacted.")
    source = ("the shipped assumptions of targeting.action_effects, not measured on these customers (`churn outcomes "
              "--write-effects` measures them from a list's holdout)" if used == "defaults" else
              f"measured by `churn outcomes` on {effects.get('measured_on')} (targeting.action_effects_measured)"
              if used == "measured" else
              "the values set by hand in targeting.action_effects: assumptions, not measured (`churn outcomes "
              "--write-effects` measures them and writes the day beside them)")
    return (f"The call list uses one average effect per action (the share of would-be churners it keeps), the same "
            f"for every customer: {source}. There are no groups of whom the call helps without a learned effect model.")


def effects_not_used_words(note: object) -> str:
    """Why the effect model was not used, from the summary's note (empty when it was)."""
    text = str(note or "").strip()
    return f"Why not a learned effect model: {text[:1].lower()}{text[1:]}." if text else ""


def qini_words(evaluation: Mapping) -> str:
    """The caption of the uplift curve: the Qini coefficient with its interval on customers the model never saw,
    against ranking by churn risk."""
    q, qr = evaluation.get("qini") or {}, evaluation.get("qini_by_risk") or {}
    if not q:
        return ""
    low, high = q.get("interval") or (float("nan"), float("nan"))
    text = (f"{QINI} {q['coefficient']:.4f} ({float(q.get('level') or 0.9):.0%} interval {low:.4f} to {high:.4f}) on "
            f"{int(evaluation.get('customers') or 0):,} listed customers the effect model never saw")
    if qr:
        text += f"; ranking by churn risk: {qr['coefficient']:.4f}"
    return (text + ". Each curve: the extra customers kept, as a share of all, when the top share of customers by "
            "that ranking is contacted (against the held-out customers among them); the dotted line is contacting "
            "at random. Above zero and above the dotted line: the ranking finds those a contact keeps.")


def currency_of(cfg: Params) -> str:
    """The currency amounts are in: ``scoring.currency`` (also written in reasons); empty when not set."""
    return cfg.scoring.currency.strip()


def currency_words(currency: str) -> str:
    """The currency as the definitions say it."""
    return currency.strip() or "not set (amounts are in the data's own currency; set scoring.currency)"


def sentence(text: str) -> str:
    """``text`` as the start of a sentence (first letter capital)."""
    return text[:1].upper() + text[1:]


def in_sentence(label: str) -> str:
    """A label inside a sentence (first letter small): "High risk" -> "high risk"."""
    return label[:1].lower() + label[1:]


def band_label(name: object) -> str:
    """A risk band (``high``) as people read it ("High risk")."""
    return BANDS.get(str(name), f"{words(name)} risk")


def tier_label(name: object) -> str:
    """A loyalty tier (``at_risk``) as people read it ("Low value")."""
    return TIERS.get(str(name), words(name))


def contact_label(name: object) -> str:
    """A contact group (``holdout``) as people read it ("Hold out — do not contact")."""
    return CONTACT_GROUPS.get(str(name), words(name))


def column_labels(column: str):
    """The label function of a risk-list column whose codes are shown in words (band, tier, group)."""
    return {"risk_band": band_label, "loyalty_tier": tier_label, "contact_group": contact_label}[column]


def period_words(days: object = None, months: object = None) -> str:
    """The period an amount is over: "next 90 days", "next 12 months"; empty when not known."""
    if isinstance(days, int | float) and not isinstance(days, bool) and days == days:
        return f"next {int(days):,} days"
    if isinstance(months, int | float) and not isinstance(months, bool) and months == months:
        return f"next {int(months):,} months"
    return ""


def amount_header(term: str, currency: str = "", period: str = "") -> str:
    """A header of amounts with their currency and period: "Value at risk (EUR, next 90 days)", "Value at risk
    (next 90 days)" without a currency, the term alone without either."""
    said = ", ".join(filter(None, (currency.strip(), period)))
    return f"{term} ({said})" if said else term


def column_header(column: str, currency: str = "", horizon_days: object = None, lifetime_months: object = None,
                  net_saving: bool = False) -> str:
    """A risk-list column as the analysts' sheet heads it: readable, amounts with currency and period
    (``net_saving``: the priority is the expected net saving)."""
    match = re.fullmatch(r"driver_(\d+)_(reason|feature|family|value|effect)", column)
    if match:
        return DRIVER_TERMS[match.group(2)].format(k=match.group(1))
    if column == "priority" and net_saving:
        return amount_header(NET_SAVING, currency, period_words(horizon_days))
    if column in HORIZON_AMOUNTS:
        return amount_header(COLUMN_TERMS[column], currency, period_words(horizon_days))
    if column == "lifetime_value":
        return amount_header(COLUMN_TERMS[column], currency, period_words(months=lifetime_months))
    return COLUMN_TERMS.get(column) or feature_label(column)


def code_words(column: str):
    """The label function of a risk-list column whose codes are shown in words (band, tier, group, effect group,
    a reason's feature and family), or None for a column shown as it is."""
    if column in ("risk_band", "previous_band"):
        return band_label
    if column in ("loyalty_tier", "contact_group"):
        return column_labels(column)
    if column == "effect_group":
        return lambda g: EFFECT_GROUPS.get(str(g), words(g))
    if re.fullmatch(r"driver_\d+_feature", column):
        return feature_label
    if re.fullmatch(r"driver_\d+_family", column):
        return family_label
    return None


def feature_label(name: object) -> str:
    """A feature name read aloud: ``spend_last_90d`` -> "Spend, last 90 days", ``latest_nps`` -> "Latest NPS"."""
    text = str(name)
    if text.startswith("profile_"):
        return f"{words(text[len('profile_'):])} (profile)"
    window = ""
    match = re.search(r"_(last_|next_)?(\d+)d$", text)
    if match:
        window = f", {(match.group(1) or '').rstrip('_').replace('_', ' ')} {match.group(2)} days".replace(",  ", ", ")
        text = text[:match.start()]
    elif text.endswith("_now"):
        window, text = ", now", text[:-4]
    tokens = [_WORDS.get(t, t) for t in text.split("_")]
    return words(" ".join(tokens)) + window


def as_of_words(day: object) -> str:
    """The as-of date and what it means."""
    return f"{str(day)[:10]} (data up to the end of this day)"


def group_counts(counts: Mapping[str, int]) -> str:
    """Customers per contact group: "Contact: 1,200; Hold out — do not contact: 130" (in the order given)."""
    return "; ".join(f"{contact_label(g)}: {int(n):,}" for g, n in counts.items())


def groups_meaning() -> str:
    """What each contact group means and what to do with its customers."""
    return " ".join(f"{label} = {GROUP_MEANINGS[g]}." for g, label in CONTACT_GROUPS.items())


def holdout_share_words(share: float) -> str:
    """How many of the customers selected for contact are held out, and why."""
    return f"{share:.0%} of the customers selected for contact are marked \"{CONTACT_GROUPS['holdout']}\": {HOLDOUT_PURPOSE}"


def value_total_error_words(rule: object) -> str:
    """How far the value totals may be off: the error of the value model's total on the last period checked
    (a summary's ``value_rule``: ``total_error``, ``checked_on``, ``checked_season_seen``); empty when the run did not
    measure it. Where that period's time of year was not among what the model learned a year before
    (``checked_season_seen`` false: too little history), the error is an unseen season's and is said to be no guide."""
    error = rule.get("total_error") if isinstance(rule, Mapping) else None
    if error is None or not math.isfinite(float(error)):
        return ""
    direction = "below" if float(error) < 0 else "above"
    when = f" (the horizon after {str(rule['checked_on'])[:10]})" if rule.get("checked_on") else ""
    measured = (f"Value totals were {abs(float(error)):.0%} {direction} what customers then spent on the last period "
                f"checked{when}")
    if rule.get("checked_season_seen") is False:
        return (f"{measured}, a time of year the model had not learned from a year before (the history is too short): "
                "that error is no guide to how far these totals are off, which is not known until a year of history "
                "covers the season.")
    return f"{measured}: expect totals of value if retained and value at risk to be off by about as much."


def money_words(amount: float, currency: str = "") -> str:
    """An amount as sentences say it: "1,234 EUR", "£1,234" (none after the point from 100 up, else 2), in the one
    currency style of :func:`pipeline.core.money.money`."""
    return money(amount, currency, 0 if abs(amount) >= 100 else 2)


def net_saving_words(contact_cost: float, offer_cost: float, currency: str = "") -> str:
    """How the expected net saving of a contact (the call list's priority) is worked out, with this run's costs."""
    text = (f"{NET_SAVING} of contacting a customer over the horizon = churn probability x value if retained x the "
            f"action's expected effect (the value it keeps), less the contact's cost ({money_words(contact_cost, currency)} "
            "for every customer contacted)")
    if offer_cost:
        text += (f" and the offer's cost ({money_words(offer_cost, currency)} for each customer who takes it: those it "
                 "keeps and those who would have stayed anyway)")
    return text + ". The call list holds the customers whose expected net saving is above zero, highest first."


def profit_sentence(profit: Mapping, horizon_days: object, currency: str = "", capacity: object = None,
                    held_out: int = 0, held_out_saving: float = 0.0) -> str:
    """The list size that maximises expected profit, in one sentence (and what a smaller capacity leaves, and
    what the holdout, ``held_out`` customers expected to save ``held_out_saving``, sets aside)."""
    horizon = f" over the next {int(horizon_days)} days" if isinstance(horizon_days, int | float) else ""
    best = int(profit["best_list_size"])
    if not best:
        return "No customer is expected to save more than a contact costs: calling nobody maximises expected profit."
    text = (f"Calling the first {best:,} customers maximises expected profit: "
            f"{money_words(float(profit['best_net_saving']), currency)}{horizon}.")
    if isinstance(capacity, int) and capacity < best:
        text += (f" The capacity of {capacity:,} reaches {money_words(float(profit['capacity_net_saving']), currency)} "
                 f"and leaves {money_words(float(profit['left_by_capacity']), currency)} on the table.")
    if held_out:
        text += (f" Holding out {held_out:,} of them, to measure whether contacting works, sets aside "
                 f"{money_words(held_out_saving, currency)} of it.")
    return text


def targeting_profit_sentence(targeting: Mapping, horizon_days: object, currency: str = "") -> str:
    """``profit_sentence`` from a summary's ``targeting`` section; empty for a list written before it had costs."""
    if not isinstance(targeting.get("profit"), Mapping):
        return ""
    held = int((targeting.get("groups") or {}).get("holdout") or 0)
    aside = float(targeting.get("net_saving_selected") or 0) - float(targeting.get("net_saving_contacted") or 0)
    return profit_sentence(targeting["profit"], horizon_days, currency, targeting.get("capacity"), held, aside)


def win_back_words(gaps: object, horizon_days: object) -> str:
    """Who goes on the win-back list, as the definitions say it; empty when there is no such list."""
    if not isinstance(gaps, int | float) or not isinstance(horizon_days, int | float):
        return ""
    return (f"Customers with no purchase for longer than the {int(horizon_days)}-day horizon and than {gaps:g} of their "
            f"usual gaps between purchases (one-time buyers: {gaps:g} horizons, {gaps * horizon_days:,.0f} days) are "
            "lost already: they are on the win-back list, not the retention call list.")


def tiers_meaning(tiers: list[str]) -> str:
    """What loyalty tiers are, with the tiers of this list (most valuable first)."""
    return ("Value tiers rank customers by the value they are expected to bring (loyalty score 0-100, from predicted "
            "future spend), not by risk: " + ", ".join(tier_label(t) for t in tiers) + ". Customers expected to leave "
            "are expected to bring little, so low tiers hold many of them: each tier's churn rate is shown beside it.")


def churn_words(label: object) -> str:
    """The churn definition as a definition's text (a sentence); empty without a label."""
    return sentence(churn_definition(label))


def population_words(population: Mapping, scored: int) -> str:
    """Who is scored, as the definitions say it: the rule, the customers scored and, where known, those left out
    and why; empty without a rule."""
    if not population.get("rule"):
        return ""
    text = f"Scored: {population['rule']} ({scored:,} customers)."
    if population.get("left_out") is not None:
        reason = population.get("left_out_reason", "no place in the population")
        text += (f" Left out: {population['left_out']:,} customers with earlier history, because they have "
                 f"{reason}.").replace("have no order", "made no order")
    return text


def _percent(share: float) -> str:
    """A probability threshold: whole percents without decimals (60%), others to one decimal (6.1%)."""
    text = f"{share:.1%}"
    return text.replace(".0%", "%")


def band_rule_text(rule: object) -> list[tuple[str, str]]:
    """(band label, the band's bounds in words) for each band of a summary's ``band_rule``, highest risk first."""
    if not isinstance(rule, Mapping) or not isinstance(rule.get("bands"), Mapping):
        return []
    bands = rule["bands"]
    if not bands:
        return []
    if rule.get("by") == "top_share":
        ordered = sorted(bands.items(), key=lambda kv: kv[1])
        out, previous = [], 0.0
        for name, share in ordered[:-1]:
            out.append((band_label(name), f"the {share:.0%} of customers with the highest churn probability"
                        if not previous else f"the next {share - previous:.0%} by churn probability"))
            previous = share
        return [*out, (band_label(ordered[-1][0]), "everyone else")]
    ordered = sorted(bands.items(), key=lambda kv: kv[1], reverse=True)
    out, upper = [], None
    for name, bound in ordered:
        out.append((band_label(name), f"churn probability {_percent(bound)} or more" if upper is None
                    else f"churn probability {_percent(bound)} to under {_percent(upper)}" if bound > 0
                    else f"churn probability under {_percent(upper)}"))
        upper = bound
    return out


def _odds(m: float) -> str:
    """A multiple of the average customer's odds of churning in words: "3 times the average customer's odds of
    churning", "a third of ..." (a whole fraction 1/k from 0.333), "the average customer's ..." (1)."""
    odds = "the average customer's odds of churning"
    if abs(m - 1) < 1e-9:
        return odds
    if m < 1 and abs(1 / m - round(1 / m)) < 0.02:
        k = round(1 / m)
        return f"{ {2: 'half', 3: 'a third of', 4: 'a quarter of'}.get(k, f'1/{k} of')} {odds}"
    return f"{m:g} times {odds}"


def band_rule_words(rule: object) -> str:
    """How the risk bands were drawn, in one definition: each band and its bounds, highest risk first, and where
    thresholds are multiples of the validation churn rate, the multiples and the rate; empty without a rule."""
    bands = band_rule_text(rule)
    if not bands or not isinstance(rule, Mapping):
        return ""
    text = "; ".join(f"{b}: {t}" for b, t in bands)
    rate = rule.get("base_rate")
    if rate is not None and rule.get("by") == "base_rate_odds":
        multiples = rule.get("multiples") or {}
        # each band from its bound up (a band's odds are at least its multiple, below the next band's)
        why = [f"{band_label(b)} from {_odds(float(m))}" for b, m in multiples.items() if float(m) > 0]
        text += f" (the validation churn rate was {float(rate):.1%}" + (f": {'; '.join(why)})" if why else ")")
    elif rate is not None:
        multiples = rule.get("multiples") or {}
        froms = ", ".join(f"{band_label(b)} from {float(m):g}x" for b, m in multiples.items() if float(m) > 0)
        text += (f" ({froms} the validation churn rate of {float(rate):.1%})" if froms
                 else f" (validation churn rate {float(rate):.1%})")
    return text


def band_rule_line(rule: object, when: str = "") -> str:
    """The band rule as one line for the command line: "Risk bands: High risk: churn probability 60% or more; ..."
    (``when`` after the term: "when scored")."""
    return f"{TERMS['risk_bands']}{' ' + when if when else ''}: {band_rule_words(rule)}"


# The warning printed when a trained model ranks customers no better than a simple baseline (not promoted).
BEHIND_BASELINE = "behind a baseline"


def margin_words(margin: Mapping) -> str:
    """A model's ROC-AUC margin over the best baseline with its bootstrap interval, as the command line says it:
    "+0.0123 over btyd (90% interval +0.0050 to +0.0190)"; "no baseline" where none was measured."""
    if not margin or margin.get("best_baseline") is None:
        return "no baseline"
    return (f"{margin['margin']:+.4f} over {margin['best_baseline']} ({margin['level']:.0%} interval "
            f"{margin['low']:+.4f} to {margin['high']:+.4f})")


def newly_in_band(band: object) -> str:
    """Customers that moved into a band since the last list, as the report and the command line say it."""
    return f"newly in the {in_sentence(band_label(band))} band"


def churn_rate_title(label: object) -> str:
    """The title of the churn-rate-by-month chart: the rate's own period, so that a 90-day rate never reads as a
    monthly one."""
    horizon = label.get("horizon_days") if isinstance(label, dict) else None
    return f"{horizon}-day churn rate at each month end" if horizon else "Churn rate at each month end"


def churn_rate_caption(label: object) -> str:
    """What the churn-rate-by-month chart measures, in the words of the churn definition and the population rule."""
    label = label if isinstance(label, dict) else {}
    horizon = label.get("horizon_days")
    days = f"{horizon} days" if horizon else "horizon"
    if label.get("kind") == "cancellation":
        text = (f"Share of the customers with a subscription active at each month end whose subscriptions all ended "
                f"in the next {days}")
    else:
        k = int(label.get("min_purchases_in_lookback") or 1)
        orders = "bought" if k == 1 else f"made at least {k} orders"
        lookback = label.get("lookback_days")
        within = f" in the {lookback} days up to it" if lookback else ""
        text = f"Share of the customers who {orders}{within} at each month end and then bought nothing in the next {days}"
    rate = f"{horizon}-day" if horizon else "horizon"
    return (f"{text}: a {rate} rate, not a monthly one. The last months have no rate yet: their {days} are not over.")


def effects_basis_words(effects: object) -> str:
    """Whether the action effects behind "expected to save" are assumptions or measured (and when), in a phrase;
    empty for a list that does not say."""
    if not isinstance(effects, Mapping) or "used" not in effects:
        return ""
    used = effects["used"]
    if used == "effect_model":
        return f"by each customer's effect, learned from past lists and their holdouts (as of {effects.get('learned_as_of')})"
    if used == "measured":
        return f"with action effects measured by `churn outcomes` on {effects.get('measured_on')}"
    return ("assuming the action effects set in targeting.action_effects, not yet measured on these customers "
            "(churn outcomes measures them from this list's holdout once the horizon is over)")


def effects_basis_short(effects: object) -> str:
    """The same, in a few words for a headline card."""
    if not isinstance(effects, Mapping) or "used" not in effects:
        return ""
    return {"effect_model": "by learned effects", "measured": f"effects measured {effects.get('measured_on')}"}.get(
        effects["used"], "assumed action effects")


def no_previous_words(previous: object) -> str:
    """The line that says no earlier list was compared, and how to compare with one."""
    if not isinstance(previous, Mapping):
        return ""
    if previous.get("asked_none"):
        return "No earlier list was compared (--no-previous)."
    where = f" in {previous['looked_in']}" if previous.get("looked_in") else ""
    return (f"No earlier list was found{where} (a risk_asof=DATE.parquet file dated before this one), so nothing is "
            "compared. The next run that writes to the same folder compares with this list; to compare with another, "
            "pass it: churn score ... --previous PATH.")


__all__ = ["ACTION_CHOICE", "ACTION_CHOICE_BY_EFFECT", "BANDS", "BEHIND_BASELINE", "COLUMN_TERMS", "CONTACT_GROUPS",
           "DRIVER_TERMS", "EFFECTS_SECTION", "EFFECT_GROUP", "EFFECT_GROUPS", "EFFECT_GROUP_MEANINGS",
           "GROUP_MEANINGS", "HELD_OUT_SHEET", "HELD_OUT_WHY", "HOLDOUT_PURPOSE", "HORIZON_AMOUNTS", "NET_SAVING",
           "QINI", "SHEET_NAMES", "TERMS", "TIERS", "TOP_OF_LIST", "UPLIFT_CURVE", "WHY_THIS_ACTION",
           "WIN_BACK_LIST", "amount_header", "as_of_words", "band_label", "band_rule_line", "band_rule_text",
           "band_rule_words", "churn_definition", "churn_rate_caption", "churn_rate_title", "churn_words",
           "code_words", "column_header", "column_labels", "contact_label", "currency_of", "currency_words",
           "effect_reason", "effects_basis_short", "effects_basis_words", "effects_not_used_words",
           "effects_used_words", "family_label", "feature_label", "group_counts", "groups_meaning",
           "holdout_share_words", "in_sentence", "margin_words", "money_words", "net_saving_words", "newly_in_band",
           "no_previous_words", "period_words", "population_rule", "population_words", "profit_sentence",
           "qini_words", "sentence", "targeting_profit_sentence", "tier_label", "tiers_meaning", "win_back_words",
           "words"]
