"""Per-customer drivers from TreeSHAP contributions, in probability points and plain sentences.

Contributions are exact TreeSHAP values (``shap.TreeExplainer`` on the booster, identical to LightGBM's
``pred_contrib`` and measured slightly faster: ``benchmarks/bench_scoring.py``). They are in
log-odds; each customer's contributions are rescaled by (p - p0) / (sum of contributions), p being the
calibrated churn probability and p0 the calibrated base rate, so they add up to the customer's
distance from the base rate in probability points and keep their signs and proportions.

Drivers are families, not single features: SHAP values add up, so a family's sum is the honest effect
of that group of correlated features, and two near-copies of one signal cannot take two of the three
places. A driver is a family whose summed effect raises this customer's risk; it is named by its
feature with the largest positive contribution, whose sentence gives the reason.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.registry import FeatureSpec

N_DRIVERS = 3


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


def family_effects(effects: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, list[str]]:
    """Sum feature effects (n x f) by family -> (n x families)."""
    families = list(dict.fromkeys(f.family for f in spec.features))
    onehot = np.zeros((len(spec.features), len(families)))
    for i, f in enumerate(spec.features):
        onehot[i, families.index(f.family)] = 1.0
    return effects @ onehot, families


def _template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name and name != "value"]


def top_drivers(effects: np.ndarray, features: pd.DataFrame, spec: FeatureSpec, k: int = N_DRIVERS) -> Drivers:
    """The ``k`` families raising each customer's risk most, each named by its leading feature."""
    n = len(features)
    fam_effects, families = family_effects(effects, spec)
    names = spec.names
    fam_index = np.array([families.index(f.family) for f in spec.features])
    # Leading feature of each family for each customer: its largest positive contribution.
    leader = np.zeros((n, len(families)), dtype=int)
    for j in range(len(families)):
        cols = np.flatnonzero(fam_index == j)
        leader[:, j] = cols[np.argmax(effects[:, cols], axis=1)]
    order = np.argsort(-fam_effects, axis=1, kind="stable")[:, :k]
    rows = np.arange(n)[:, None]
    chosen_effect = fam_effects[rows, order]
    chosen_feature = leader[rows, order]
    valid = (chosen_effect > 0) & (effects[rows, chosen_feature] > 0)

    out_feature = np.full((n, k), None, dtype=object)
    out_family = np.full((n, k), None, dtype=object)
    out_value = np.full((n, k), None, dtype=object)
    out_effect = np.where(valid, chosen_effect, np.nan)
    out_reason = np.full((n, k), None, dtype=object)
    known = set(names)
    for slot in range(k):
        for fi in np.unique(chosen_feature[valid[:, slot], slot]):
            mask = valid[:, slot] & (chosen_feature[:, slot] == fi)
            feat = spec.features[fi]
            idx = np.flatnonzero(mask)
            values = _values(features, feat.name, idx)
            others = {f: _values(features, f, idx) for f in _template_fields(feat.description)
                      if f in known and f != feat.name}
            out_feature[idx, slot] = feat.name
            out_family[idx, slot] = feat.family
            out_value[idx, slot] = values
            out_reason[idx, slot] = _reasons(feat, values, others)
    return Drivers(out_feature, out_family, out_value, out_effect, out_reason)


def _values(features: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
    """One column's values for rows ``idx`` as Python objects. Only the rows a driver needs are boxed:
    boxing every feature of every customer took 1.5 GB at 670k customers."""
    return features[name].iloc[idx].to_numpy(dtype=object)


def _reasons(feat, values: np.ndarray, others: dict[str, np.ndarray]) -> np.ndarray:
    """The feature's sentence for each of its ``values``, with the ``others`` features its template names
    (same rows), rendered once per distinct combination (counts, days and flags repeat a lot), then looked up."""
    fields = [feat.name, *others]
    keys = zip(*([_plain(v) for v in column] for column in (values, *others.values())), strict=True)
    cache: dict[tuple, str] = {}
    out = np.empty(len(values), dtype=object)
    for pos, key in enumerate(keys):
        text = cache.get(key)
        if text is None:
            text = cache[key] = feat.describe(key[0], dict(zip(fields, key, strict=True)))
        out[pos] = text
    return out


def _plain(v):
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return float(v)
    return v
