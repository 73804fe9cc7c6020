"""The call list: each customer's priority and contact group (treatment, holdout or not selected).

``priority = churn probability x value if retained x the expected effect of the suggested action`` (the
share of would-be churners that action keeps: a prior per action in ``targeting.action_effects``,
replaced by measured effects once ``churn outcomes --write-effects`` has measured them). It is the
value a contact can be expected to save.

The ``targeting.capacity`` customers with the highest priority are selected (everyone with a priority
above zero when the capacity is empty); ``targeting.holdout_share`` of them are held out: not contacted,
so that ``churn outcomes`` can compare their churn with the contacted group's. Holdout customers are
drawn by a seeded hash of the customer id and the as-of date: a re-run of the same campaign holds out
the same customers, and each campaign (another as-of date) draws afresh, so nobody is held out every time.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np

from pipeline.config import TargetingConfig

TREATMENT, HOLDOUT, NOT_SELECTED = "treatment", "holdout", "not_selected"
GROUPS = (TREATMENT, HOLDOUT, NOT_SELECTED)


def action_effects(actions: np.ndarray, cfg: TargetingConfig) -> np.ndarray:
    """Expected share of would-be churners each customer's action keeps (``targeting.action_effects``,
    ``targeting.default_effect`` for an action not listed)."""
    effects = {**cfg.action_effects}
    return np.array([effects.get(a, cfg.default_effect) if isinstance(a, str) else cfg.default_effect
                     for a in actions], dtype=float)


def holdout_draw(customer_ids: np.ndarray, as_of: date, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per customer from a hash of the seed, the as-of date and the id: the same
    on every run of one campaign, independent between campaigns."""
    prefix = f"{seed}|{as_of.isoformat()}|".encode()
    out = np.empty(len(customer_ids), dtype=float)
    for i, cid in enumerate(customer_ids):
        digest = hashlib.blake2b(prefix + str(cid).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def contact_groups(customer_ids: np.ndarray, priority: np.ndarray, as_of: date, cfg: TargetingConfig,
                   seed: int) -> np.ndarray:
    """``treatment``, ``holdout`` or ``not_selected`` per customer.

    Selected: the ``cfg.capacity`` customers of highest priority (ties by id), among those whose priority
    is above zero; all of those when the capacity is empty. Held out: exactly
    ``round(cfg.holdout_share x selected)`` of the selected, those with the lowest :func:`holdout_draw`.
    """
    customer_ids = np.asarray(customer_ids).astype(str)
    priority = np.nan_to_num(np.asarray(priority, float), nan=0.0)
    out = np.full(len(priority), NOT_SELECTED, dtype=object)
    eligible = np.flatnonzero(priority > 0)
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
