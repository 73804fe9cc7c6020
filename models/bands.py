"""Risk bands: the probability thresholds a model's bands are drawn at (stored with the model when it is trained)
and each customer's band."""

from __future__ import annotations

import numpy as np

from pipeline.core.config import ScoringConfig


def band_thresholds(cfg: ScoringConfig, base_rate: float | None) -> dict[str, float] | None:
    """Each band's lowest churn probability, where bands are drawn by probability: the thresholds as given
    (``probability``) or m x the validation base rate (``base_rate_multiple``, m the band's multiple). Where m x
    the rate is out of reach (rates above 1 / (m + 1)), the bound is a chance of staying m times below the
    base chance of staying instead: min(m r, 1 - (1 - r) / m), so every band means something at any base
    rate. None for ``top_share``.
    """
    if cfg.risk_bands_by == "probability":
        return dict(cfg.risk_bands)
    if cfg.risk_bands_by != "base_rate_multiple":
        return None
    if base_rate is None:
        raise ValueError("risk bands by base_rate_multiple need the validation base rate")
    r = float(base_rate)
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
