"""Scoring stage: risk list with drivers and actions, SHAP contributions, global importance and drift.

Pure: a feature table and a model bundle in, frames out. Reading the model and writing files live in
``pipeline.scoring.run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from models.bands import BASE_RATE_RULES, band_thresholds, risk_bands
from models.bundle import ModelBundle, bin_counts, cycle_counts
from models.explain import N_DRIVERS, family_effects, least_effects, silent_facts, to_probability_points, top_drivers
from models.value import lifetime_value
from pipeline.core.config import ScoringConfig, TargetingConfig, ValueConfig
from pipeline.core.errors import ModelError
from pipeline.scoring.targeting import (
    EFFECT_GROUPS,
    GROUPS,
    HOLDOUT,
    NOT_SELECTED,
    TREATMENT,
    WIN_BACK,
    action_effects,
    allowed_actions,
    callable_customers,
    choose_actions,
    choose_by_effect,
    contact_groups,
    effect_groups,
    net_saving,
    profit_curve,
    win_back_mask,
)

EPS = 1e-4


@dataclass
class ScoreResult:
    risk_list: pd.DataFrame
    # customer_id + churn_<feature> (log-odds) [+ loyalty_<feature> (log of value) with scoring.explain_loyalty];
    # None where they went to ``score``'s ``contributions_to`` batch by batch instead
    contributions: pd.DataFrame | None
    global_features: pd.DataFrame  # mean |effect| per feature, in probability points and log-odds
    global_families: pd.DataFrame
    drift: pd.DataFrame  # feature, family, psi, flagged
    summary: dict = field(default_factory=dict)


def risk_band_rule(cfg: ScoringConfig, bundle: ModelBundle) -> dict:
    """How this run draws risk bands (the summary's ``band_rule``): the rule, the bands' values and, where
    bands are probability thresholds, the thresholds. By the base rate (``base_rate_odds``, ``base_rate_multiple``)
    also the validation base rate stored with the model and the configured ``multiples``, while ``bands`` holds the
    resulting probabilities."""
    rule: dict = {"by": cfg.risk_bands_by, "bands": dict(cfg.risk_bands)}
    if cfg.risk_bands_by in BASE_RATE_RULES:
        rate = bundle.metadata.get("validation_base_rate")
        if rate is None:
            raise ModelError(f"risk bands by {cfg.risk_bands_by} need the validation churn rate stored with the model, "
                             "and this model was saved before it was. Fix: retrain with `churn train`, or pass "
                             "--set scoring.risk_bands_by=probability with probability thresholds in scoring.risk_bands")
        rule["base_rate"] = float(rate)
        rule["base_rate_source"] = "churn rate of the model's validation cutoff"
    thresholds = band_thresholds(cfg, rule.get("base_rate"))
    if thresholds is not None:
        rule["thresholds"] = thresholds
    if cfg.risk_bands_by in BASE_RATE_RULES:  # readers of ``bands`` (report, Excel) get probabilities
        rule["multiples"], rule["bands"] = rule["bands"], dict(thresholds)
    return rule


def score(features: pd.DataFrame, bundle: ModelBundle, as_of: date, cfg: ScoringConfig, model_version: str,
          targeting: TargetingConfig | None = None, value: ValueConfig | None = None, seed: int = 0,
          effects: object | None = None, contributions_to: Callable[[pd.DataFrame], None] | None = None
          ) -> ScoreResult:
    """Score every customer of a feature table; the risk list is the call list, in priority order (the expected net
    saving of a contact, highest first; then churn probability, then id), the win-back list after it.

    Values (``models.value``): ``value_if_retained`` from the value model, ``expected_value`` (1 - p) x it,
    ``value_at_risk`` p x it, ``lifetime_value`` over ``value.lifetime_months``. Targeting
    (``pipeline.scoring.targeting``): ``action_effect``, ``priority`` (the expected net saving of contacting the
    customer, after the contact and offer costs) and ``contact_group`` (``win_back`` for customers long gone).

    Two steps: ``score_rows`` (each customer on their own: probabilities, values, SHAP, drivers, actions; an
    engine may run it on any split of the customers) and ``assemble`` (what needs every customer: bands drawn
    by rank, the call list's selection and order, summary, global importance and drift). ``score_rows`` runs on
    ``cfg.batch_rows`` customers at a time, so what it holds per customer (contributions in probability points,
    driver texts) is held for one batch; each customer's row is the same whatever the batches.

    ``contributions_to``: where each batch's SHAP contributions go as soon as the batch is scored (``churn score``
    writes them to the SHAP file: ``pipeline.core.files.ParquetChunks.write``), in the feature table's order; the
    result's ``contributions`` is then None, and no customer's contributions are held beyond their batch. Without
    it they are gathered into the result's frame.
    """
    return score_batches(customer_batches(features, cfg.batch_rows), len(features), bundle, as_of, cfg, model_version,
                         targeting, value, seed, effects, contributions_to)


def score_batches(batches: Iterable[pd.DataFrame], rows: int, bundle: ModelBundle, as_of: date, cfg: ScoringConfig,
                  model_version: str, targeting: TargetingConfig | None = None, value: ValueConfig | None = None,
                  seed: int = 0, effects: object | None = None,
                  contributions_to: Callable[[pd.DataFrame], None] | None = None) -> ScoreResult:
    """``score`` over a feature table that comes a batch at a time (``rows`` customers in all, in id order), so that
    no more than one batch of it is held: an engine streams its feature table here (``DuckDBDataset.score``). Each
    batch is let go once scored; the result is ``score``'s on the batches' concatenation."""
    gathered = None
    if contributions_to is None:
        gathered = GatheredContributions(rows)
        contributions_to = gathered.add
    risks, totals = [], []
    for batch in batches:
        part = score_rows(batch, bundle, as_of, cfg, model_version, targeting, value, effects)
        contributions_to(part.contributions)
        risks.append(part.risk)
        totals.append(part.totals)
        del part
    risk = risks[0] if len(risks) == 1 else concat_rows(risks)
    del risks
    contributions = None if gathered is None else gathered.frame()
    return assemble(risk, contributions, totals, bundle, as_of, cfg, model_version, targeting, value, seed)


class GatheredContributions:
    """Batches' contributions gathered into one frame, in the order they come (the SHAP file's rows, in the feature
    table's order): each batch's values go straight into one array and the batch is let go, so the contributions
    are held once, never as batches and their concatenation at once. A single batch is kept as it is."""

    def __init__(self, rows: int):
        self.rows = rows
        self.whole: pd.DataFrame | None = None
        self.ids: list[np.ndarray] = []
        self.columns: list[str] = []
        self.values: np.ndarray | None = None
        self.start = 0

    def add(self, block: pd.DataFrame) -> None:
        if self.start == 0 and len(block) == self.rows:
            self.whole, self.start = block, len(block)
            return
        if self.values is None:
            self.columns = list(block.columns[1:])
            self.values = np.empty((self.rows, len(self.columns)))
        self.values[self.start:self.start + len(block)] = block[self.columns].to_numpy(float)
        self.ids.append(block["customer_id"].to_numpy())
        self.start += len(block)

    def frame(self) -> pd.DataFrame:
        if self.whole is not None:
            return self.whole
        out = pd.DataFrame(self.values, columns=self.columns, copy=False)
        out.insert(0, "customer_id", np.concatenate(self.ids))
        return out


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Batches' rows as one table typed as one batch of them all would be: a text column that is empty in one batch
    (object there) is text again, as ``score_rows`` types it over every customer."""
    out = pd.concat(frames, ignore_index=True)
    for column in out.columns:
        if len({str(f[column].dtype) for f in frames}) > 1:
            out[column] = pd.Series(out[column].to_numpy(dtype=object))
    return out


def customer_batches(features: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    """``features`` in consecutive batches of at most ``rows`` customers (one, possibly empty, when it fits), each
    indexed from 0 as a table of its own."""
    if len(features) <= rows:
        return [features]
    return [features.iloc[start:start + rows].reset_index(drop=True) for start in range(0, len(features), rows)]


@dataclass
class ScoredRows:
    """``score_rows``' output: risk-list rows (in the feature table's order; ``risk_band`` and ``contact_group`` are
    drawn by ``assemble``), their SHAP contributions, and ``totals``: sums over these customers that ``assemble``
    adds up (any split of the customers gives the same sums)."""

    risk: pd.DataFrame
    contributions: pd.DataFrame
    totals: dict


@dataclass(frozen=True)
class Scorer:
    """A model's scoring as an engine runs it (``pipeline.engine.base.Scorer``): ``rows`` on any split of the
    customers, ``assemble`` once over all of them."""

    bundle: ModelBundle
    as_of: date
    cfg: ScoringConfig
    model_version: str
    targeting: TargetingConfig | None = None
    value: ValueConfig | None = None
    seed: int = 0
    effects: object | None = None  # a learned effect model (``pipeline.training.effects_registry.LoadedEffects``)

    @property
    def batch_rows(self) -> int:
        return self.cfg.batch_rows

    def rows(self, features: pd.DataFrame) -> ScoredRows:
        return score_rows(features, self.bundle, self.as_of, self.cfg, self.model_version, self.targeting, self.value,
                          self.effects)

    def assemble(self, risk: pd.DataFrame, contributions: pd.DataFrame | None, totals: list[dict]) -> ScoreResult:
        return assemble(risk, contributions, totals, self.bundle, self.as_of, self.cfg, self.model_version,
                        self.targeting, self.value, self.seed)

    def score(self, features: pd.DataFrame, contributions_to: Callable[[pd.DataFrame], None] | None = None
              ) -> ScoreResult:
        return score(features, self.bundle, self.as_of, self.cfg, self.model_version, self.targeting, self.value,
                     self.seed, self.effects, contributions_to)

    def score_batches(self, batches: Iterable[pd.DataFrame], rows: int,
                      contributions_to: Callable[[pd.DataFrame], None] | None = None) -> ScoreResult:
        return score_batches(batches, rows, self.bundle, self.as_of, self.cfg, self.model_version, self.targeting,
                             self.value, self.seed, self.effects, contributions_to)


def score_rows(features: pd.DataFrame, bundle: ModelBundle, as_of: date, cfg: ScoringConfig, model_version: str,
               targeting: TargetingConfig | None = None, value: ValueConfig | None = None,
               effect_model: object | None = None) -> ScoredRows:
    """What each customer's row holds, from their own features alone (see ``score``). With ``effect_model`` (a learned
    effect model) each customer's action and priority follow its predicted effects (``apply_effects``)."""
    targeting = targeting or TargetingConfig()
    value = value or ValueConfig()
    base_rate = risk_band_rule(cfg, bundle).get("base_rate")
    X = bundle.check_features(features)
    n = len(X)
    rows, value_rows = bundle.encode_rows(X)  # once for both models: the same table
    raw = bundle.churn.predict_proba(rows)[:, 1]
    p = bundle.calibrator.transform(raw)
    churn_contrib = bundle.churn.contributions(rows)
    base = np.full(n, 1 / (1 + np.exp(-churn_contrib[0, -1]))) if n else np.zeros(0)
    p0 = bundle.calibrator.transform(base)
    effects = to_probability_points(churn_contrib[:, :-1], p, p0)
    # the value model's contributions only on request (``scoring.explain_loyalty``): nothing else reads them
    loyalty_contrib = bundle.loyalty.contributions(value_rows) if cfg.explain_loyalty else None
    retained = bundle.value_if_retained(value_rows)
    expected = (1 - p) * retained
    loyalty_score = bundle.loyalty_score(expected)
    lifetime = lifetime_value(p, retained, bundle.horizon_days, value.lifetime_months, value.annual_discount_rate,
                              bundle.metadata.get("value_persistence"))

    # the whole feature table: the reasons' conditions may read condition-only features, which X leaves out
    drivers = top_drivers(effects, features, bundle.spec, currency=cfg.currency, log_odds=churn_contrib[:, :-1],
                          least_effect=least_effects(p, p0 if base_rate is None else base_rate),
                          silent=silent_facts(bundle.spec,
                                                                                 bundle.churn.feature_importance()))
    risk = pd.DataFrame({
        "customer_id": features["customer_id"].to_numpy(),
        "as_of": pd.Timestamp(as_of),
        "churn_probability": p,
        "risk_band": risk_bands(p, cfg, base_rate),  # by rank (top_share): drawn again over every customer
        "loyalty_score": loyalty_score,
        "loyalty_tier": bundle.loyalty_tier(loyalty_score),
        "expected_value": expected,
        "value_if_retained": retained,
        "value_at_risk": p * retained,
        "lifetime_value": lifetime,
        "model_version": model_version,
    })
    for k in range(N_DRIVERS):
        risk[f"driver_{k + 1}_feature"] = drivers.feature[:, k]
        risk[f"driver_{k + 1}_family"] = drivers.family[:, k]
        # Numeric like every numeric column; a categorical driver's value is in its reason sentence.
        risk[f"driver_{k + 1}_value"] = pd.to_numeric(pd.Series(drivers.value[:, k]), errors="coerce").to_numpy(float)
        risk[f"driver_{k + 1}_effect"] = drivers.effect[:, k]
        risk[f"driver_{k + 1}_reason"] = drivers.reason[:, k]
    # Conditions test the customer's features and attributes, or the risk list's own columns (risk_band...).
    condition_columns = {**{c: risk[c] for c in risk.columns}, **{c: features[c] for c in features.columns}}
    driver_families = risk[[f"driver_{k + 1}_family" for k in range(N_DRIVERS)]].to_numpy(dtype=object)
    risk["action"], action_notes = choose_actions(driver_families, condition_columns, cfg)
    gone, win_back_notes = long_gone(features, bundle.horizon_days, targeting)
    risk.loc[gone, "action"] = targeting.win_back_action
    risk["action_effect"] = action_effects(risk["action"].to_numpy(), targeting)
    risk["priority"] = net_saving(p, retained, risk["action_effect"].to_numpy(), targeting)
    # the win-back list is decided here, per customer; ``assemble`` draws the other groups around it
    risk["contact_group"] = np.where(gone, WIN_BACK, NOT_SELECTED).astype(object)
    effect_notes = apply_effects(risk, features, condition_columns, effect_model, cfg, targeting, p, retained, gone)
    action_notes = [*action_notes, *win_back_notes, *effect_notes]

    names = bundle.feature_names
    columns = [f"churn_{c}" for c in names] + ["churn_base_value"]
    if loyalty_contrib is not None:
        columns += [f"loyalty_{c}" for c in names] + ["loyalty_base_value"]
    contributions = pd.DataFrame(
        np.hstack([churn_contrib, loyalty_contrib]) if loyalty_contrib is not None else churn_contrib,
        columns=columns, copy=False)
    contributions.insert(0, "customer_id", features["customer_id"].to_numpy())
    fam, _ = family_effects(effects, bundle.spec)
    totals = {
        "customers": n, "base_probability": float(p0[0]) if n else None, "action_notes": action_notes,
        "abs_effect_pp": np.abs(effects).sum(axis=0).tolist(),
        "abs_log_odds": np.abs(churn_contrib[:, :-1]).sum(axis=0).tolist(),
        "abs_loyalty": np.abs(loyalty_contrib[:, :-1]).sum(axis=0).tolist() if loyalty_contrib is not None else None,
        "abs_family_pp": np.abs(fam).sum(axis=0).tolist(),
        "drift_counts": drift_counts(X, bundle, as_of),
    }
    return ScoredRows(risk, contributions, totals)


def apply_effects(risk: pd.DataFrame, features: pd.DataFrame, columns: dict, effects: object | None,
                  cfg: ScoringConfig, targeting: TargetingConfig, p: np.ndarray, retained: np.ndarray,
                  gone: np.ndarray) -> list[str]:
    """Add ``predicted_effect`` (the fall in churn probability the action is expected to bring), ``effect_group``
    and ``effect_model_version`` to ``risk`` (this function's own frame, changed in place).

    Without an effect model the predicted effect is the configured share of would-be churners kept, times the
    churn probability, and there are no groups. With one (``effects.model``, ``effects.label``), every customer
    off the win-back list gets the action of highest expected net saving among those whose conditions they meet
    (``targeting.choose_by_effect``); do-not-disturb customers are kept off the call list. Returns notes."""
    risk["predicted_effect"] = p * risk["action_effect"].to_numpy(float)
    risk["effect_group"] = np.full(len(risk), None, dtype=object)
    risk["effect_model_version"] = np.full(len(risk), None, dtype=object)
    if effects is None:
        return []
    model = effects.model
    missing = [f for f in model.feature_names_ if f not in features.columns]
    if missing:
        return [f"the effect model {effects.label} needs features this model's table lacks ({', '.join(missing[:3])}"
                f"{' and more' if len(missing) > 3 else ''}): the configured average effects are used"]
    predicted = model.predict(features[model.feature_names_])
    allowed = allowed_actions(list(predicted.columns), columns, cfg, len(risk))
    action, effect, saving, open_ = choose_by_effect(predicted, allowed, p, retained, targeting)
    use = open_ & ~np.asarray(gone, dtype=bool)
    risk["action"] = np.where(use, action, risk["action"].to_numpy(dtype=object))
    risk["action_effect"] = action_effects(risk["action"].to_numpy(), targeting)
    risk["predicted_effect"] = np.where(use, effect, risk["predicted_effect"].to_numpy(float))
    risk["priority"] = np.where(use, saving, risk["priority"].to_numpy(float))
    risk["effect_group"] = np.where(use, effect_groups(effect, p), None)
    risk["effect_model_version"] = np.where(use, effects.label, None)
    return []


def effect_summary(risk: pd.DataFrame) -> dict:
    """The summary's figures on the effect groups: customers and value if retained per group, and the effect
    model used (None: the configured average effects)."""
    group = risk["effect_group"] if "effect_group" in risk.columns else pd.Series(None, index=risk.index)
    versions = risk["effect_model_version"].dropna().unique() if "effect_model_version" in risk.columns else []
    return {"model_version": str(versions[0]) if len(versions) else None,
            "groups": {g: {"customers": int((group == g).sum()),
                           "value_if_retained": float(risk.loc[(group == g).to_numpy(), "value_if_retained"].sum())}
                       for g in EFFECT_GROUPS}}


def long_gone(features: pd.DataFrame, horizon_days: int, targeting: TargetingConfig) -> tuple[np.ndarray, list[str]]:
    """Customers for the win-back list (``targeting.win_back_mask`` on their days since last purchase and usual
    gap between purchases), and a note when the features to tell are missing (then nobody)."""
    n = len(features)
    if targeting.win_back_gaps is None:
        return np.zeros(n, dtype=bool), []
    if "days_since_last_purchase" not in features.columns:
        return np.zeros(n, dtype=bool), ["targeting.win_back_gaps: no win-back list, as the model has no "
                                         "days_since_last_purchase feature to tell who is long gone"]
    gap = (features["mean_days_between_purchases"].to_numpy(float) if "mean_days_between_purchases" in features.columns
           else None)
    return win_back_mask(features["days_since_last_purchase"].to_numpy(float), gap, horizon_days,
                         targeting.win_back_gaps), []


def drift_counts(frame: pd.DataFrame, bundle: ModelBundle, as_of: date | None = None) -> dict:
    """Per feature with a training reference, how many of these customers fall in each of its bins (numbers) or
    take each value (categories): what ``population_stability`` compares with the reference (that of the time of
    year of ``as_of``, ``ModelBundle.drift_reference_for``)."""
    out: dict = {}
    reference, _ = bundle.drift_reference_for(as_of)
    for feat in bundle.spec.features:
        ref = reference.get(feat.name)
        if ref is None:
            continue
        if ref["kind"] == "categorical":
            seen = frame[feat.name].fillna("<missing>").astype(str).value_counts()
            out[feat.name] = {str(k): int(v) for k, v in seen.items()}
        elif ref["kind"] == "cyclic":
            out[feat.name] = cycle_counts(frame[feat.name].to_numpy(float), ref["cycle_days"]).tolist()
        else:
            out[feat.name] = bin_counts(frame[feat.name].to_numpy(float), np.asarray(ref["edges"], float)).tolist()
    return out


def add_totals(parts: list[dict]) -> dict:
    """``ScoredRows.totals`` of several splits of the customers, added up."""
    parts = [t for t in parts if t["customers"]] or parts[:1]
    first = parts[0]
    out = {"customers": sum(t["customers"] for t in parts),
           "base_probability": first["base_probability"], "action_notes": first["action_notes"]}
    for key in ("abs_effect_pp", "abs_log_odds", "abs_loyalty", "abs_family_pp"):
        # abs_loyalty is None where the value model was not explained (scoring.explain_loyalty off)
        out[key] = None if first[key] is None else np.sum([np.asarray(t[key], float) for t in parts], axis=0)
    drift: dict = {}
    for t in parts:
        for name, counts in t["drift_counts"].items():
            if isinstance(counts, dict):
                merged = drift.setdefault(name, {})
                for k, v in counts.items():
                    merged[k] = merged.get(k, 0) + v
            else:
                drift[name] = np.asarray(counts) + drift.get(name, 0)
    out["drift_counts"] = drift
    return out


def stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two share vectors over the same bins (empty bins counted as a share of ``EPS``)."""
    e, a = np.clip(expected, EPS, None), np.clip(actual, EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


CYCLE_BINS = 10  # a cycle's days compared in this many runs of days (a month: runs of 3 or 4 days)


def cyclic_stability(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of a feature that turns with the calendar: shares on each day of its cycle plus missing (``expected``
    from training, ``actual`` now), compared at the turn of the cycle that matches them best. Each day's share is
    summed into ``CYCLE_BINS`` runs of days (a day's bins are too thin for a few hundred customers), and the
    smallest PSI over every turn is the feature's: renewals on the 1st seen from the 2nd or the 20th of a month
    are the same distribution, while renewals bunching on fewer days, or more customers without one, are not."""
    days = len(expected) - 1
    runs = np.array_split(np.arange(days), CYCLE_BINS)

    def binned(shares: np.ndarray) -> np.ndarray:
        return np.append([shares[r].sum() for r in runs], shares[-1])

    e = binned(expected)
    return min(stability_index(e, binned(np.append(np.roll(actual[:-1], -turn), actual[-1])))
               for turn in range(days))


def population_stability(counts: dict, customers: int, bundle: ModelBundle, threshold: float,
                         as_of: date | None = None) -> pd.DataFrame:
    """PSI of each feature between the training reference stored with the model for the time of year of ``as_of``
    (``ModelBundle.drift_reference_for``) and this snapshot (``counts``: ``drift_counts`` of its ``customers``).

    A feature that grows with time by construction (``Feature.ages``: tenure, lifetime totals, days since
    sign-up) moves with every month a young customer base ages, whatever the customers do: its PSI is
    reported (``ages`` true) but never flagged; only the other features' shifts are. A feature that turns with
    the calendar (``Feature.cycle_days``: days to the next monthly renewal) is compared allowing for the turn
    (``cyclic_stability``).
    """
    rows = []
    reference, _ = bundle.drift_reference_for(as_of)
    for feat in bundle.spec.features:
        ref = reference.get(feat.name)
        if ref is None:
            continue
        seen = counts[feat.name]
        if ref["kind"] == "cyclic":
            psi = cyclic_stability(np.asarray(ref["shares"], float), np.asarray(seen, float) / max(customers, 1))
        elif ref["kind"] == "categorical":
            expected = ref["shares"]
            keys = sorted(set(expected) | set(seen))
            e = np.array([expected.get(k, 0.0) for k in keys])
            a = np.array([seen.get(k, 0) / customers for k in keys], float)
            psi = stability_index(e, a)
        else:
            psi = stability_index(np.asarray(ref["shares"], float), np.asarray(seen, float) / max(customers, 1))
        ages = bool(getattr(feat, "ages", False))
        rows.append({"feature": feat.name, "family": feat.family, "psi": psi, "ages": ages,
                     "flagged": psi > threshold and not ages})
    return pd.DataFrame(rows, columns=["feature", "family", "psi", "ages", "flagged"]).sort_values(
        ["psi", "feature"], ascending=[False, True], ignore_index=True)


def call_list_economics(risk: pd.DataFrame, targeting: TargetingConfig, default_action: str) -> dict:
    """The summary's figures on the call list's economics, from the risk list in its order (retention list first):
    the costs assumed, the profit curve over the retention list (``targeting.profit_curve``), the expected net
    saving of the selected (contacted and held out) and of those contacted, and the win-back list's size."""
    group = risk["contact_group"].to_numpy()
    saving = risk["priority"].to_numpy(float)
    retention = group != WIN_BACK
    selected = np.isin(group, (TREATMENT, HOLDOUT))
    # only customers with a reason an agent can give and a targeted action are ever called: the curve runs over them
    can_call = callable_customers(risk, default_action)
    return {
        "contact_cost": targeting.contact_cost, "offer_cost": targeting.offer_cost,
        "win_back_gaps": targeting.win_back_gaps,
        "selected": int(selected.sum()),
        "net_saving_selected": float(saving[selected].sum()),
        "net_saving_contacted": float(saving[group == TREATMENT].sum()),
        "no_positive_saving": int((retention & (saving <= 0)).sum()),
        # a positive saving, but no reason to give or no targeted action to offer: never called
        "not_callable": int((retention & (saving > 0) & ~can_call).sum()),
        "profit": profit_curve(saving[retention & can_call], targeting.capacity),
        "win_back": {"customers": int((~retention).sum()),
                     "net_saving_positive": int((~retention & (saving > 0)).sum()),
                     "value_if_retained": float(risk.loc[~retention, "value_if_retained"].sum())},
    }


def assemble(risk: pd.DataFrame, contributions: pd.DataFrame | None, totals: list[dict], bundle: ModelBundle, as_of: date,
             cfg: ScoringConfig, model_version: str, targeting: TargetingConfig | None = None,
             value: ValueConfig | None = None, seed: int = 0) -> ScoreResult:
    """The scoring result from every customer's rows (``score_rows``, over any split of the customers: ``totals``
    holds each split's sums): bands drawn by rank, contact groups, the call list's order, summary, global
    importance and drift."""
    targeting = targeting or TargetingConfig()
    value = value or ValueConfig()
    band_rule = risk_band_rule(cfg, bundle)
    t = add_totals(totals)
    n = len(risk)
    p = risk["churn_probability"].to_numpy(float)
    bands = risk_bands(p, cfg, band_rule.get("base_rate"))
    gone = (risk["contact_group"] == WIN_BACK).to_numpy() if "contact_group" in risk.columns else None
    groups = contact_groups(risk["customer_id"].to_numpy(), risk["priority"].to_numpy(), as_of, targeting, seed,
                            win_back=gone, can_call=callable_customers(risk, cfg.default_action))
    # the retention list in priority order, then the win-back list in its own priority order; the caller's frame
    # stays as it is (the reordered one is a copy). The contributions stay in the feature table's order: the SHAP
    # file is keyed by customer_id, and reordering it would hold a second copy of the largest table.
    order = np.lexsort((risk["customer_id"].to_numpy(dtype=str), -p, -risk["priority"].to_numpy(),
                        np.asarray(groups == WIN_BACK)))
    risk = risk.iloc[order].reset_index(drop=True)
    risk["risk_band"] = np.asarray(bands, dtype=object)[order]
    risk["contact_group"] = np.asarray(groups, dtype=object)[order]
    lead = risk["driver_1_family"]

    names = bundle.feature_names
    global_features = pd.DataFrame({
        "feature": names, "family": [f.family for f in bundle.spec.features],
        "mean_abs_effect_pp": t["abs_effect_pp"] / n if n else np.zeros(len(names)),
        "mean_abs_log_odds": t["abs_log_odds"] / n if n else 0.0,
        # only where the value model was explained (scoring.explain_loyalty)
        **({} if t["abs_loyalty"] is None else {"mean_abs_loyalty": t["abs_loyalty"] / n if n else 0.0}),
    }).sort_values(["mean_abs_effect_pp", "feature"], ascending=[False, True], ignore_index=True)
    families = list(dict.fromkeys(f.family for f in bundle.spec.features))
    global_families = pd.DataFrame({
        "family": families, "mean_abs_effect_pp": t["abs_family_pp"] / n if n else 0.0,
        "customers_leading": [int((lead == f).sum()) for f in families],
        # whether the family can name a reason (behaviour with a direction of risk), not context or a trait: the
        # report's "why customers leave" shows only these
        "actionable": [any(g.can_drive for g in bundle.spec.features if g.family == f) for f in families],
    }).sort_values(["mean_abs_effect_pp", "family"], ascending=[False, True], ignore_index=True)
    drift = population_stability(t["drift_counts"], n, bundle, cfg.drift_psi_threshold, as_of)
    summary = {
        "as_of": str(as_of), "model_version": model_version, "customers": n,
        # whose features drift is judged against: the training customers of this cutoff (the same time of year)
        "drift_reference_cutoff": bundle.drift_reference_for(as_of)[1],
        "bands": {b: int((risk["risk_band"] == b).sum()) for b in cfg.risk_bands},
        "value_at_risk": float(risk["value_at_risk"].sum()),
        "value_if_retained": float(risk["value_if_retained"].sum()),
        "expected_value": float(risk["expected_value"].sum()),
        "lifetime_value": float(risk["lifetime_value"].sum()),
        "value_rule": {"lifetime_months": value.lifetime_months, "annual_discount_rate": value.annual_discount_rate,
                       "persistence": bundle.metadata.get("value_persistence"),
                       # how far the value model's total was off on the last period it was checked on
                       "total_error": bundle.metadata.get("value_total_error"),
                       "checked_on": bundle.metadata.get("validation_cutoff"),
                       # False: that period's time of year was never learned a year before, so the error is no guide
                       "checked_season_seen": bundle.metadata.get("value_error_season_seen")},
        "label": bundle.metadata.get("label", {"horizon_days": bundle.horizon_days}),
        "problem": bundle.metadata.get("problem"),  # applied again by `churn outcomes`
        # the last day the model's training labels cover: outcomes of a list before it are in-sample figures
        "labels_end": bundle.metadata.get("labels_end"),
        "targeting": {"capacity": targeting.capacity, "holdout_share": targeting.holdout_share,
                      "groups": {g: int((risk["contact_group"] == g).sum()) for g in GROUPS},
                      "priority_in_treatment": float(risk.loc[risk["contact_group"] == "treatment", "priority"].sum()),
                      **call_list_economics(risk, targeting, cfg.default_action), "effects": effect_summary(risk)},
        "mean_churn_probability": float(p.mean()) if n else 0.0,
        "base_probability": t["base_probability"] if n else None,
        "actions": {str(a): int(c) for a, c in risk["action"].value_counts(sort=False).sort_index().items()},
        "action_notes": t["action_notes"],
        "drifted_features": drift.loc[drift["flagged"], ["feature", "psi"]].to_dict("records"),
        "ageing_features_moved": drift.loc[drift["ages"] & (drift["psi"] > cfg.drift_psi_threshold),
                                           ["feature", "psi"]].to_dict("records"),
        "band_rule": band_rule,
    }
    return ScoreResult(risk, contributions, global_features, global_families, drift, summary)
