"""Per-customer drivers from TreeSHAP contributions, in probability points and plain sentences.

How it works, and why: docs/explanations.md, section "models/explain.py".
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.registry import Feature, FeatureSpec, material_change, said_when_holds

N_DRIVERS = 3
# A reason must move the customer's risk by at least a point, or a tenth of their distance from the base
# rate where that is more: a feature that adds 0.06 points to a 60% risk explains nothing worth saying.
MIN_EFFECT_POINTS = 0.01
MIN_EFFECT_SHARE = 0.1
# Customers near the bottom of the risk range, under a fifth of the base rate, get no risk reasons: what raises their
# risk a little is not why anyone would call them (nor are they on a call list: one needs a reason).
LOW_RISK_SHARE = 0.2
# A fact (Feature.fact) whose features carry less than this share of the churn model's total gain is noise to the
# model (an event type with no bearing on churn): it never names a reason, whatever one customer's contributions say.
MIN_FACT_GAIN_SHARE = 0.005


def least_effects(p: np.ndarray, p0: np.ndarray | float) -> np.ndarray:
    """The least effect (probability points, as a share) a reason must have for each customer: ``MIN_EFFECT_POINTS``
    or ``MIN_EFFECT_SHARE`` of their distance from the base rate ``p0`` (the churn rate the model was validated
    on), whichever is larger; infinite (no reason at all) for a customer under ``LOW_RISK_SHARE`` of it."""
    p, p0 = np.asarray(p, float), np.asarray(p0, float)
    least = np.maximum(MIN_EFFECT_POINTS, MIN_EFFECT_SHARE * np.abs(p - p0))
    return np.where(p < LOW_RISK_SHARE * p0, np.inf, least)


def silent_facts(spec: FeatureSpec, gain: pd.Series) -> frozenset[str]:
    """The facts whose features together carry under ``MIN_FACT_GAIN_SHARE`` of the model's total gain (``gain``:
    per feature name, as ``feature_importance`` gives it): they never name a reason."""
    total = float(gain.clip(lower=0).sum())
    if total <= 0:
        return frozenset()
    by_fact: dict[str, float] = {}
    for f in spec.features:
        if f.can_drive:
            by_fact[f.fact_key] = by_fact.get(f.fact_key, 0.0) + float(max(gain.get(f.name, 0.0), 0.0))
    return frozenset(fact for fact, g in by_fact.items() if g < MIN_FACT_GAIN_SHARE * total)


def to_probability_points(contrib: np.ndarray, p: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Rescale log-odds contributions (n x f, without the base column) so each row sums to p - p0."""
    dlogit = contrib.sum(axis=1)
    small = np.abs(dlogit) < 1e-9
    slope = np.where(small, p * (1 - p), (p - p0) / np.where(small, 1.0, dlogit))
    return contrib * slope[:, None]


@dataclass
class Drivers:
    """Top drivers per customer: arrays of shape (n, N_DRIVERS), missing where fewer drivers raise risk."""

    feature: np.ndarray
    family: np.ndarray
    value: np.ndarray
    effect: np.ndarray
    reason: np.ndarray


def family_effects(effects: np.ndarray, spec: FeatureSpec, drivers_only: bool = False) -> tuple[np.ndarray, list[str]]:
    """Sum feature effects (n x f) by family -> (n x families). With ``drivers_only`` the sums leave out the
    context features (model outputs, static attributes): what a driver's effect is."""
    families = list(dict.fromkeys(f.family for f in spec.features))
    out = np.zeros((effects.shape[0], len(families)))
    # Column sums row by row, not a matrix product: a BLAS product's last bits depend on how many rows it is given,
    # and a customer's drivers must not depend on which other customers are scored with them (Spark partitions).
    for j, family in enumerate(families):
        columns = [i for i, f in enumerate(spec.features) if f.family == family and not (f.context and drivers_only)]
        if columns:
            out[:, j] = effects[:, columns].sum(axis=1)
    return out, families


def top_drivers(effects: np.ndarray, features: pd.DataFrame, spec: FeatureSpec, k: int = N_DRIVERS, *,
                currency: str = "", rank_by: Literal["rising", "net", "strongest"] = "rising",
                log_odds: np.ndarray | None = None, least_effect: np.ndarray | None = None,
                silent: frozenset[str] = frozenset()) -> Drivers:
    """The ``k`` families raising each customer's risk most, each named by its leading sayable feature.

    A family's effect (``rank_by="rising"``) is the sum of its features' effects that raise risk, context
    features (model outputs, static attributes) left out: the risk the family adds, not netted against its
    features that lower risk (many visits a month ago lower the risk that few visits now raise, and the
    net sum would hide the fall). ``rank_by="net"`` ranks by the plain sum instead, ``"strongest"`` by
    the family's strongest risk-raising feature (both recover planted causes less often: README "Drivers
    and reasons"). A family is named by its feature with the largest
    positive effect whose reason can be said (:meth:`Feature.reason`); a family with none is passed over
    and the next one leads. ``currency`` is written with amounts in the reasons.

    ``log_odds``, the same contributions in the model's log-odds (``effects`` being them rescaled to
    probability points, :func:`to_probability_points`), are what families are ranked and named by where
    given; the effects reported stay in probability points. The order is the same wherever the rescaling
    slope is positive; where calibration maps a customer onto the base rate itself (slope 0), the model's
    drivers are still named, with an effect of 0 points.

    One fact, once: a customer's reasons name at most one feature per fact (:attr:`Feature.fact`); a family whose
    leading feature states a fact an earlier reason already said is named by its next feature, or passed over, and
    the next family takes the freed place. ``least_effect`` (per customer, in probability points as a share;
    :func:`least_effects`) is the least effect a driver must have to be named; ``silent`` are facts that never
    name a driver (:func:`silent_facts`). ``features`` are the customers' rows of the feature table, in the order of
    ``effects``' rows: the model's inputs, and the condition-only features (``FeatureSpec.conditions``) that
    reasons' conditions read; a condition on a column it lacks reads a missing value.
    """
    n, m = effects.shape[0], len(spec.features)
    ranked_by = effects if log_odds is None else log_odds
    fam_effects, families = _family_ranking(ranked_by, spec, rank_by)
    fam_points = fam_effects if log_odds is None else _family_ranking(effects, spec, rank_by)[0]
    fam_index = np.array([families.index(f.family) for f in spec.features])
    sayable = np.zeros((n, m), dtype=bool)
    for i, feat in enumerate(spec.features):
        if feat.can_drive and feat.fact_key not in silent:
            rising = ranked_by[:, i] > 0
            if rising.any():
                sayable[:, i] = rising & _sayable(feat, features)
    strong = np.ones((n, len(families)), dtype=bool) if least_effect is None else (
        fam_points >= np.asarray(least_effect, float)[:, None] - 1e-12)
    facts = np.array([f.fact_key for f in spec.features], dtype=object)
    reasons: dict[int, np.ndarray] = {}  # feature index -> its reason per customer (None: not rendered or unsayable)
    rendered: dict[int, np.ndarray] = {}  # feature index -> whether each customer's reason is rendered
    while True:
        # Leading feature of each family for each customer: its largest positive effect among the sayable.
        masked = np.where(sayable, ranked_by, -np.inf)
        leader = np.zeros((n, len(families)), dtype=int)
        named = np.zeros((n, len(families)), dtype=bool)
        for j in range(len(families)):
            cols = np.flatnonzero(fam_index == j)
            if cols.size:
                best = np.argmax(masked[:, cols], axis=1)
                leader[:, j] = cols[best]
                named[:, j] = sayable[np.arange(n), cols[best]]
        ranked = np.where(named & (fam_effects > 0) & strong, fam_effects, -np.inf)
        order = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
        rows = np.arange(n)[:, None]
        valid = np.isfinite(ranked[rows, order])
        chosen_feature = leader[rows, order]
        repeated = _repeated_facts(facts[chosen_feature], valid)
        if repeated.any():  # a fact said by an earlier driver: that feature is passed over for this customer
            for slot in range(1, order.shape[1]):
                idx = np.flatnonzero(repeated[:, slot])
                sayable[idx, chosen_feature[idx, slot]] = False
            continue
        unsaid = _render(features, spec, chosen_feature, valid, currency, reasons, rendered)
        if not unsaid:
            break
        for fi, idx in unsaid.items():  # sentences the vectorised checks let through but that cannot be said
            sayable[idx, fi] = False

    out_feature = np.full((n, k), None, dtype=object)
    out_family = np.full((n, k), None, dtype=object)
    out_value = np.full((n, k), None, dtype=object)
    out_reason = np.full((n, k), None, dtype=object)
    out_effect = np.where(valid, fam_points[rows, order], np.nan)
    for slot in range(k):
        for fi in np.unique(chosen_feature[valid[:, slot], slot]):
            idx = np.flatnonzero(valid[:, slot] & (chosen_feature[:, slot] == fi))
            feat = spec.features[fi]
            out_feature[idx, slot] = feat.name
            out_family[idx, slot] = feat.family
            out_value[idx, slot] = _values(features, feat.name, idx)
            out_reason[idx, slot] = reasons[fi][idx]
    return Drivers(out_feature, out_family, out_value, out_effect, out_reason)


def _repeated_facts(facts: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(n x k) whether each valid driver slot states a fact that an earlier valid slot of the customer states."""
    out = np.zeros(valid.shape, dtype=bool)
    for slot in range(1, valid.shape[1]):
        for earlier in range(slot):
            out[:, slot] |= valid[:, slot] & valid[:, earlier] & (facts[:, slot] == facts[:, earlier])
    return out


def _family_ranking(effects: np.ndarray, spec: FeatureSpec, rank_by: str) -> tuple[np.ndarray, list[str]]:
    """Each family's effect for ranking (n x families), as :func:`top_drivers` describes ``rank_by``."""
    fam_effects, families = family_effects(np.clip(effects, 0, None) if rank_by == "rising" else effects, spec,
                                           drivers_only=True)
    if rank_by == "strongest":
        fam_effects = np.zeros_like(fam_effects)
        for j, family in enumerate(families):
            cols = [i for i, f in enumerate(spec.features) if f.family == family and not f.context]
            if cols:
                fam_effects[:, j] = np.clip(effects[:, cols], 0, None).max(axis=1)
    return fam_effects, families


def _sayable(feat: Feature, features: pd.DataFrame) -> np.ndarray:
    """Vectorised :meth:`Feature.reason` checks for every customer: a missing value needs a sentence of its
    own, a value must lie on the risky side of the neutral point, a comparison must be a material change, and
    a value must not be negative unless the words say so."""
    if feat.kind != "numeric":
        present = features[feat.name].notna().to_numpy()
        return present | (feat.missing is not None)
    v = pd.to_numeric(features[feat.name], errors="coerce").to_numpy(float)
    missing = np.isnan(v)
    ok = np.ones(len(v), dtype=bool)
    if feat.neutral is not None:
        if isinstance(feat.neutral, str):
            point = (pd.to_numeric(features[feat.neutral], errors="coerce").to_numpy(float)
                     if feat.neutral in features.columns else np.full(len(v), np.nan))
        else:
            point = np.full(len(v), float(feat.neutral))
        with np.errstate(invalid="ignore"):
            ok &= v > point if feat.risk_direction > 0 else v < point
    for name, op, bound in feat.said_when:  # conditions on the customer's other features (Feature.said_when)
        other = features[name].to_numpy() if name in features.columns else np.full(len(v), np.nan)
        ok &= said_when_holds(other, op, bound)
    if feat.zero is not None:
        for name, op, bound in feat.zero_when:  # ... and for the zero sentence (Feature.zero_when)
            other = features[name].to_numpy() if name in features.columns else np.full(len(v), np.nan)
            ok &= (v != 0) | said_when_holds(other, op, bound)
    if feat.compares is not None:  # a comparison is a reason only for a material change (features.registry)
        others = {name: (features[name].to_numpy() if name in features.columns else np.full(len(v), np.nan))
                  for name in feat.compares if name not in (None, "value")}
        recent, earlier, least = feat.compared(v, others)
        ok &= material_change(recent, earlier, feat.risk_direction, least, feat.counts)
    if feat.negative is None and "{value:abs " not in feat.description:
        ok &= ~(v < 0)
    return np.where(missing, feat.missing is not None, ok)


def _render(features: pd.DataFrame, spec: FeatureSpec, chosen: np.ndarray, valid: np.ndarray, currency: str,
            reasons: dict[int, np.ndarray], rendered: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Render the reasons of the chosen features not rendered yet into ``reasons`` (per feature index, one
    per customer; ``rendered`` marks them); returns, per feature index, the rows whose sentence cannot be said."""
    known = set(features.columns)  # the model's inputs and the condition-only features (FeatureSpec.conditions)
    n = len(features)
    unsaid = {}
    for fi in np.unique(chosen[valid]):
        if fi not in reasons:
            reasons[fi], rendered[fi] = np.full(n, None, dtype=object), np.zeros(n, dtype=bool)
        idx = np.flatnonzero((valid & (chosen == fi)).any(axis=1) & ~rendered[fi])
        if not idx.size:
            continue
        feat = spec.features[fi]
        others = {f: _values(features, f, idx) for f in _fields(feat) if f in known and f != feat.name}
        texts = _reasons(feat, _values(features, feat.name, idx), others, currency)
        reasons[fi][idx], rendered[fi][idx] = texts, True
        failed = idx[np.equal(texts, None)]
        if failed.size:
            unsaid[fi] = failed
    return unsaid


def _fields(feat: Feature) -> list[str]:
    """The other features a feature's sentences and neutral point read."""
    names = [name for template in (feat.description, feat.missing, feat.zero, feat.negative) if template
             for _, name, _, _ in string.Formatter().parse(template.replace("[", "").replace("]", ""))
             if name and name != "value"]
    if isinstance(feat.neutral, str):
        names.append(feat.neutral)
    names += [name for name in feat.compares or () if name not in (None, "value")]
    names += [name for name, _, _ in (*feat.said_when, *feat.zero_when)]
    return list(dict.fromkeys(names))


def _values(features: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
    """One column's values for rows ``idx`` as Python objects. Only the rows a driver needs are boxed:
    boxing every feature of every customer took 1.5 GB at 670k customers."""
    return features[name].iloc[idx].to_numpy(dtype=object)


def _reasons(feat: Feature, values: np.ndarray, others: dict[str, np.ndarray], currency: str = "",
             facts: bool = False) -> np.ndarray:
    """The feature's reason (with ``facts``, its sentence for the card: :meth:`Feature.describe`) for each of
    its ``values``, with the ``others`` features its sentences read (same rows), rendered once per distinct
    combination (counts, days and flags repeat a lot), then looked up."""
    say = feat.describe if facts else feat.reason
    fields = [feat.name, *others]
    keys = zip(*([_plain(v) for v in column] for column in (values, *others.values())), strict=True)
    cache: dict[tuple, str | None] = {}
    out = np.empty(len(values), dtype=object)
    for pos, key in enumerate(keys):
        if key in cache:
            out[pos] = cache[key]
        else:
            out[pos] = cache[key] = say(key[0], dict(zip(fields, key, strict=True)), currency)
    return out


def context_facts(features: pd.DataFrame, spec: FeatureSpec, currency: str = "") -> pd.DataFrame:
    """The context features of each customer as sentences for their card (never drivers): one column per
    context feature, None where there is nothing to say."""
    out = {}
    idx = np.arange(len(features))
    for feat in spec.features:
        if feat.context and feat.name in features.columns:
            others = {f: _values(features, f, idx) for f in _fields(feat) if f in features.columns and f != feat.name}
            out[feat.name] = _reasons(feat, _values(features, feat.name, idx), others, currency, facts=True)
    return pd.DataFrame(out, index=features.index)


def _plain(v):
    """A value as a plain Python key for the sentence cache; missing is None (NaN never equals itself, so every
    missing value would be a cache miss and its sentence rendered again)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float | np.floating):
        return None if v != v else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v
