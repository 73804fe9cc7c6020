"""The call list: each customer's expected net saving, priority and contact group (treatment, holdout, not
selected or win-back), and the profit curve by list size.

How it works, and why: docs/outputs.md, section "pipeline/scoring/targeting.py".
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from pipeline.core.config import ActionRule, Condition, ScoringConfig, TargetingConfig

TREATMENT, HOLDOUT, NOT_SELECTED, WIN_BACK = "treatment", "holdout", "not_selected", "win_back"
GROUPS = (TREATMENT, HOLDOUT, NOT_SELECTED, WIN_BACK)
CURVE_POINTS = 200  # list sizes the summary's profit curve keeps (the maximum and the ends always among them)


def action_effects(actions: np.ndarray, cfg: TargetingConfig) -> np.ndarray:
    """Expected share of would-be churners each customer's action keeps (``targeting.action_effects``,
    ``targeting.default_effect`` for an action not listed)."""
    codes, texts = pd.factorize(pd.Series(actions, dtype=object), use_na_sentinel=True)
    effects = np.array([cfg.action_effects.get(t, cfg.default_effect) if isinstance(t, str) else cfg.default_effect
                        for t in texts] + [cfg.default_effect], dtype=float)
    return effects[codes]  # a missing action (code -1) takes the last entry, the default


_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _equal(column: pd.Series, value: object) -> np.ndarray:
    """``column == value`` per row; a number compares with the column's numbers, text with its text. Missing: False."""
    if isinstance(value, bool | int | float):
        return (pd.to_numeric(column, errors="coerce") == float(value)).fillna(False).to_numpy(dtype=bool)
    return (column.astype("string") == str(value)).fillna(False).to_numpy(dtype=bool)


def condition_mask(column: pd.Series, cond: Condition) -> np.ndarray:
    """Rows of ``column`` meeting ``cond``; a missing value never meets a condition."""
    present = column.notna().to_numpy()
    if cond.operator in _COMPARE:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return _COMPARE[cond.operator](numbers, float(cond.value)) & ~np.isnan(numbers)
    values = cond.value if cond.operator in ("in", "not_in") else (cond.value,)
    hit = np.zeros(len(column), dtype=bool)
    for v in values:
        hit |= _equal(column, v)
    return hit if cond.operator in ("==", "in") else present & ~hit


def choose_actions(families: np.ndarray, columns: Mapping[str, pd.Series], cfg: ScoringConfig
                   ) -> tuple[np.ndarray, list[str]]:
    """The suggested action per customer and notes on actions that can never apply.

    For each driver slot in order, a customer still without an action gets the first action of that driver's
    family (``cfg.actions``) whose conditions (``when``) they all meet; whoever is left gets
    ``cfg.default_action``. Vectorised: loops over driver slots and actions, never over customers.

    Args:
        families: the drivers' families, shape (customers, drivers), None where a customer has fewer drivers.
        columns: what conditions may test, by name: the customer's features and attributes, and risk-list
            columns such as ``risk_band`` or ``loyalty_tier``; each aligned with ``families``' rows.
        cfg: the scoring settings (``actions``, ``default_action``).

    Returns:
        The action texts (object array) and one note per condition on a column that ``columns`` lacks (that
        action is never suggested).
    """
    n = families.shape[0]
    chosen = np.full(n, None, dtype=object)
    open_ = np.ones(n, dtype=bool)
    notes = [f"scoring.actions.{family}: \"{rule.text}\" is never suggested: its condition on '{cond.column}' "
             "cannot be checked, as this table has no such feature or column"
             for family, rules in cfg.actions.items() for rule in rules for cond in rule.when
             if cond.column not in columns]
    masks: dict[tuple[str, int], np.ndarray] = {}

    def applies(family: str, i: int, rule: ActionRule) -> np.ndarray:
        if (family, i) not in masks:  # each rule's conditions are evaluated once, for every customer
            mask = np.ones(n, dtype=bool)
            for cond in rule.when:
                mask &= condition_mask(columns[cond.column], cond) if cond.column in columns else False
            masks[family, i] = mask
        return masks[family, i]

    # families as integer codes: one comparison of numbers per slot and family, not of texts
    codes, names = pd.factorize(pd.Series(families.ravel(), dtype=object))
    codes = codes.reshape(families.shape)
    code_of = {name: i for i, name in enumerate(names)}
    for slot in range(families.shape[1]):
        slot_families = codes[:, slot]
        for family, rules in cfg.actions.items():
            if family not in code_of:
                continue
            rows = open_ & (slot_families == code_of[family])
            for i, rule in enumerate(rules):
                if not rows.any():
                    break
                take = rows & applies(family, i, rule)
                chosen[take] = rule.text
                rows &= ~take
                open_ &= ~take
    chosen[open_] = cfg.default_action
    return chosen, notes


def net_saving(p: np.ndarray, value_if_retained: np.ndarray, effect: np.ndarray, cfg: TargetingConfig) -> np.ndarray:
    """Expected net saving of contacting each customer over the horizon (the expected-maximum-profit framing of
    Verbraken, Verbeke and Baesens 2013): ``p x e x V - c - d x ((1 - p) + p x e)``.

    Of a customer who would churn with probability ``p``, the action keeps the share ``e``: the value saved is
    ``p x e x V`` (``V``: value if retained). Every contacted customer costs ``c`` (``contact_cost``); the offer
    costs ``d`` (``offer_cost``) for each customer who takes it: those it keeps (``p x e``) and those who would
    have stayed anyway (``1 - p``). A missing probability or value counts as no saving (net ``-c``).
    """
    p = np.nan_to_num(np.asarray(p, float), nan=0.0)
    v = np.nan_to_num(np.asarray(value_if_retained, float), nan=0.0)
    e = np.nan_to_num(np.asarray(effect, float), nan=0.0)
    kept = p * e
    return kept * v - cfg.contact_cost - cfg.offer_cost * ((1 - p) + kept)


def win_back_mask(days_since_last_purchase: np.ndarray, usual_gap: np.ndarray | None, horizon_days: int,
                  gaps: float | None) -> np.ndarray:
    """Customers long gone: no purchase for longer than the horizon and than ``gaps`` of their usual gaps between
    purchases. A customer without a usual gap (one purchase) is given the horizon as theirs, so needs ``gaps``
    horizons. A missing days-since-last-purchase never counts; ``gaps`` None: nobody."""
    days = np.asarray(days_since_last_purchase, float)
    if gaps is None:
        return np.zeros(len(days), dtype=bool)
    gap = np.full(len(days), float(horizon_days)) if usual_gap is None else np.asarray(usual_gap, float)
    gap = np.where(np.isfinite(gap) & (gap > 0), gap, float(horizon_days))
    with np.errstate(invalid="ignore"):
        return np.isfinite(days) & (days > np.maximum(float(horizon_days), gaps * gap))


def profit_curve(saving_in_order: np.ndarray, capacity: int | None) -> dict:
    """Cumulative expected net saving by list size, customers taken in priority order (``saving_in_order``: their
    net savings, highest first): the size that maximises it, that maximum, what the capacity reaches and leaves
    on the table, and the curve at up to ``CURVE_POINTS`` sizes (size 0 included).

    The maximum is at the last customer with a positive saving: each one after it lowers the total."""
    saving = np.asarray(saving_in_order, float)
    cumulative = np.concatenate([[0.0], np.cumsum(saving)])
    best = int(np.argmax(cumulative))  # the first size reaching the maximum: 0 when nobody saves more than costs
    reached = best if capacity is None else min(best, capacity)
    sizes = np.unique(np.concatenate([np.linspace(0, len(saving), min(CURVE_POINTS, len(saving) + 1)).round(),
                                      [best, reached]]).astype(int))
    return {"best_list_size": best, "best_net_saving": float(cumulative[best]),
            "capacity_list_size": reached, "capacity_net_saving": float(cumulative[reached]),
            "left_by_capacity": float(cumulative[best] - cumulative[reached]),
            "curve": [[int(k), float(cumulative[k])] for k in sizes]}


def holdout_draw(customer_ids: np.ndarray, as_of: date, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per customer from a hash of the seed, the as-of date and the id: the same
    on every run of one campaign, independent between campaigns."""
    prefix = f"{seed}|{as_of.isoformat()}|".encode()
    out = np.empty(len(customer_ids), dtype=float)
    for i, cid in enumerate(customer_ids):
        digest = hashlib.blake2b(prefix + str(cid).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def callable_customers(risk: pd.DataFrame, default_action: str) -> np.ndarray:
    """Customers a retention call has something to say to and something to offer: a reason an agent can give
    (their first driver's sentence) and a targeted action, not ``scoring.default_action`` ("no targeted action").
    A call with nothing to say or nothing to offer is no retention call, whatever its expected saving."""
    n = len(risk)
    reasoned = risk["driver_1_reason"].notna().to_numpy() if "driver_1_reason" in risk.columns else np.ones(n, bool)
    targeted = ((risk["action"].notna() & (risk["action"] != default_action)).to_numpy(bool)
                if "action" in risk.columns else np.ones(n, bool))
    return reasoned & targeted


def contact_groups(customer_ids: np.ndarray, priority: np.ndarray, as_of: date, cfg: TargetingConfig,
                   seed: int, win_back: np.ndarray | None = None, can_call: np.ndarray | None = None) -> np.ndarray:
    """``treatment``, ``holdout``, ``not_selected`` or ``win_back`` per customer.

    Win-back: the customers of ``win_back`` (long gone: their own list, never the retention call list).
    Selected: of the others, the ``cfg.capacity`` customers of highest priority (ties by id), among those whose
    priority (expected net saving) is above zero and, with ``can_call``, whom a call has something to say to and
    offer (:func:`callable_customers`); all of those when the capacity is empty. Held out: exactly
    ``round(cfg.holdout_share x selected)`` of the selected, those with the lowest :func:`holdout_draw`.
    """
    customer_ids = np.asarray(customer_ids).astype(str)
    priority = np.nan_to_num(np.asarray(priority, float), nan=0.0)
    out = np.full(len(priority), NOT_SELECTED, dtype=object)
    gone = np.zeros(len(priority), dtype=bool) if win_back is None else np.asarray(win_back, dtype=bool)
    out[gone] = WIN_BACK
    said = np.ones(len(priority), dtype=bool) if can_call is None else np.asarray(can_call, dtype=bool)
    eligible = np.flatnonzero((priority > 0) & ~gone & said)
    order = eligible[np.lexsort((customer_ids[eligible], -priority[eligible]))]
    selected = order if cfg.capacity is None else order[: cfg.capacity]
    if not selected.size:
        return out
    out[selected] = TREATMENT
    n_holdout = int(round(cfg.holdout_share * selected.size))
    if n_holdout:
        draw = holdout_draw(customer_ids[selected], as_of, seed)
        out[selected[np.argsort(draw, kind="stable")[:n_holdout]]] = HOLDOUT
    return out


# ---------------------------------------------------------------------------------------------------------------
# Targeting by a learned effect model (``models.uplift.ActionEffects``; docs/effects.md)

PERSUADABLE, SURE_THING, LOST_CAUSE, DO_NOT_DISTURB = "persuadable", "sure_thing", "lost_cause", "do_not_disturb"
EFFECT_GROUPS = (PERSUADABLE, SURE_THING, LOST_CAUSE, DO_NOT_DISTURB)
PERSUADABLE_MIN_EFFECT = 0.02  # a fall in churn probability of 2 points or more: the contact changes something
LOST_CAUSE_MIN_PROBABILITY = 0.5  # no action helps and they are more likely to leave than to stay


def allowed_actions(actions: list[str], columns: Mapping[str, pd.Series], cfg: ScoringConfig, n: int
                    ) -> dict[str, np.ndarray]:
    """Per action, the customers it may be given: those meeting every condition (``when``) of one of the
    ``scoring.actions`` rules that name it; an action no rule names has no conditions."""
    rules: dict[str, list[ActionRule]] = {}
    for family_rules in cfg.actions.values():
        for rule in family_rules:
            rules.setdefault(rule.text, []).append(rule)
    out = {}
    for action in actions:
        if action not in rules:
            out[action] = np.ones(n, dtype=bool)
            continue
        mask = np.zeros(n, dtype=bool)
        for rule in rules[action]:
            fits = np.ones(n, dtype=bool)
            for cond in rule.when:
                fits &= condition_mask(columns[cond.column], cond) if cond.column in columns else False
            mask |= fits
        out[action] = mask
    return out


def effect_net_saving(effect: np.ndarray, p: np.ndarray, value_if_retained: np.ndarray, cfg: TargetingConfig
                      ) -> np.ndarray:
    """Expected net saving of a contact whose effect is the fall in churn probability ``tau``:
    ``tau x V - c - d x ((1 - p) + tau)`` (the offer paid by those who would stay anyway and those it keeps)."""
    tau = np.nan_to_num(np.asarray(effect, float), nan=0.0)
    p = np.nan_to_num(np.asarray(p, float), nan=0.0)
    v = np.nan_to_num(np.asarray(value_if_retained, float), nan=0.0)
    return tau * v - cfg.contact_cost - cfg.offer_cost * ((1 - p) + tau)


def choose_by_effect(predicted: pd.DataFrame, allowed: Mapping[str, np.ndarray], p: np.ndarray,
                     value_if_retained: np.ndarray, cfg: TargetingConfig
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per customer, the action of highest expected net saving among those they may be given, its predicted
    effect and net saving, and whether any action was open to them (False: none the model knows fits them).

    A customer whose best open action has a predicted effect below zero is do-not-disturb: their net saving is
    kept at or below zero, so the call list never selects them."""
    n = len(predicted)
    actions = list(predicted.columns)
    saving = np.full((n, len(actions)), -np.inf)
    for j, a in enumerate(actions):
        s = effect_net_saving(predicted[a].to_numpy(float), p, value_if_retained, cfg)
        saving[:, j] = np.where(allowed[a], s, -np.inf)
    best = np.argmax(saving, axis=1)
    rows = np.arange(n)
    open_ = np.isfinite(saving[rows, best])
    effect = predicted.to_numpy(float)[rows, best]
    net = saving[rows, best]
    net = np.where(effect < 0, np.minimum(net, 0.0), net)  # do-not-disturb: never above zero, never selected
    chosen = np.array(actions, dtype=object)[best]
    return chosen, np.where(open_, effect, np.nan), np.where(open_, net, np.nan), open_


def effect_groups(effect: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Persuadable (the contact lowers their churn probability by ``PERSUADABLE_MIN_EFFECT`` or more),
    do-not-disturb (it raises it), else lost cause (likely to leave whatever is done) or sure thing (likely to
    stay anyway); missing where no effect is predicted."""
    effect = np.asarray(effect, float)
    p = np.asarray(p, float)
    out = np.where(effect >= PERSUADABLE_MIN_EFFECT, PERSUADABLE,
                   np.where(effect < 0, DO_NOT_DISTURB,
                            np.where(p >= LOST_CAUSE_MIN_PROBABILITY, LOST_CAUSE, SURE_THING))).astype(object)
    out[np.isnan(effect)] = None
    return out
