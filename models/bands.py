"""Risk bands: the probability thresholds a model's bands are drawn at (stored with the model when it is trained)
and each customer's band."""

from __future__ import annotations

import numpy as np

from pipeline.core.config import ScoringConfig

# Rules whose thresholds are drawn from the validation churn rate stored with the model
BASE_RATE_RULES = ("base_rate_odds", "base_rate_multiple")


def odds_threshold(multiple: float, base_rate: float) -> float:
    """The churn probability whose odds are ``multiple`` times the odds of ``base_rate`` (1: the base rate itself)."""
    odds = multiple * base_rate / (1 - base_rate)
    return float(odds / (1 + odds))


def band_thresholds(cfg: ScoringConfig, base_rate: float | None) -> dict[str, float] | None:
    """Each band's lowest churn probability, where bands are drawn by probability. None for ``top_share``.

    - ``probability``: the thresholds as given;
    - ``base_rate_odds`` (the default): a band starts where the odds of churning (p / (1 - p)) are m times those of the
      validation base rate r (m the band's number). The default is symmetric in log-odds around r: "medium" is
      around the average, from a third to three times its odds, so no "low" customer is above the average risk and
      no "high" one below it; m = 3 at r = 2% is 5.8%, at 40% is 66.7%, at 65% is 84.8%, and m = 1/3 at 40% is
      18.2%. Odds never run out of room, so every band keeps a share of customers at any base rate;
    - ``base_rate_multiple``: m x r, where m x r is out of reach (rates above 1 / (m + 1)) a chance of staying m times
      below the base chance of staying: min(m r, 1 - (1 - r) / m).
    """
    if cfg.risk_bands_by == "probability":
        return dict(cfg.risk_bands)
    if cfg.risk_bands_by not in BASE_RATE_RULES:
        return None
    if base_rate is None:
        raise ValueError(f"risk bands by {cfg.risk_bands_by} need the validation base rate")
    r = float(base_rate)
    if cfg.risk_bands_by == "base_rate_odds":
        return {name: odds_threshold(m, r) if m > 0 else 0.0 for name, m in cfg.risk_bands.items()}
    return {name: float(m * r if m <= 1 else min(m * r, 1 - (1 - r) / m)) for name, m in cfg.risk_bands.items()}


def risk_bands(p: np.ndarray, cfg: ScoringConfig, base_rate: float | None = None) -> np.ndarray:
    """Band per customer from probability thresholds, multiples of the validation base rate (``base_rate``)
    or top-share rules (``scoring.risk_bands_by``)."""
    thresholds = band_thresholds(cfg, base_rate)
    bands = sorted((thresholds or cfg.risk_bands).items(), key=lambda kv: kv[1], reverse=thresholds is not None)
    out = np.full(len(p), bands[-1][0], dtype=object)
    if thresholds is not None:
        for name, bound in reversed(bands):
            out[p >= bound] = name
        return out
    order = np.lexsort((np.arange(len(p)), -p))
    rank_share = np.empty(len(p))
    rank_share[order] = (np.arange(len(p)) + 1) / max(len(p), 1)
    for name, share in reversed(bands):  # bands ordered by increasing cumulative share
        out[rank_share <= share] = name
    return out
