"""Past retention campaigns on generated customers, with effects known to the generator (``churn sample-data
--campaigns N``): the training data and the answer key of ``churn learn-effects``.

Each campaign lists every customer active at its date, gives each one of two actions at random and holds out a
random ``HOLDOUT_SHARE`` of them (never contacted). A contact changes what happens next, before any purchase is
generated, so the data itself carries the effects:

- a would-be churner (latent churn within the horizon) whom the action keeps (probability ``keep``) stays on for a
  fresh lifetime;
- a customer who would have stayed and whom the contact pushes away (probability ``push``) leaves within weeks.

Both depend on what the features can see: a complaint or a poor score in the warning weeks before churn is what a
senior agent's call mends; fading visits or spend are what an offer mends; regulars who buy often resent the call
(``push``), and the most frequent buyers (``HEAVY_RATE``) resent any contact: the call and the offer both push them
away, so those of them who would have stayed are do-not-disturb whatever the action (``do_not_disturb`` in the
truth). Each customer's true effect of an action (the fall in their churn probability over the horizon) is
``keep`` if they would churn and ``-push`` if they would stay; the truth table holds it for both actions.

How it works, and why: docs/effects.md, section "Generated campaigns".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86400.0
CALL = "Service recovery call from a senior agent"
OFFER = "Personalised offer on categories they buy"
ACTIONS = (CALL, OFFER)
HOLDOUT_SHARE = 0.3
HORIZON_DAYS = 90  # the sample's label horizon (params.yaml label.horizon_days)
SPACING_DAYS = 60  # between campaigns
LAST_CAMPAIGN = pd.Timestamp("2025-09-30")  # its horizon ends on 2025-12-29, inside the data
MAX_CAMPAIGNS = 8
FREQUENT_RATE = 0.06  # purchases a day (one every 17 days or more often): the regulars a call annoys
HEAVY_RATE = 0.09  # one purchase every 11 days or more often: buyers whom any contact annoys (about 6% of customers)
SERVICE_CAUSES = ("complaints", "detractor")
FADING_CAUSES = ("fading_visits", "declining_spend", "loyalty_lapse")


def campaign_dates(campaigns: int) -> list[pd.Timestamp]:
    """The as-of dates of ``campaigns`` campaigns, oldest first, ``SPACING_DAYS`` apart, the last on
    ``LAST_CAMPAIGN``."""
    return [LAST_CAMPAIGN - pd.Timedelta(days=SPACING_DAYS * k) for k in range(campaigns - 1, -1, -1)]


def true_shares(cause: np.ndarray, in_warning: np.ndarray, rate: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per action, the share of would-be churners it keeps and the share of would-be stayers it pushes away."""
    service = np.isin(cause, SERVICE_CAUSES) & in_warning
    fading = np.isin(cause, FADING_CAUSES) & in_warning
    regular = (rate >= FREQUENT_RATE) & ~in_warning
    heavy = (rate >= HEAVY_RATE) & ~in_warning  # any contact annoys them: the offer as well as the call
    call_keep = np.where(service, 0.7, np.where(in_warning, 0.15, 0.05))
    call_push = np.where(heavy, 0.35, np.where(regular, 0.25, 0.0))
    offer_keep = np.where(fading, 0.5, np.where(in_warning, 0.1, 0.05))
    offer_push = np.where(heavy, 0.25, 0.0)
    return {CALL: (call_keep, call_push), OFFER: (offer_keep, offer_push)}


def simulate(rng: np.random.Generator, customer_id: np.ndarray, signup: np.ndarray, churn_at: np.ndarray,
             cause: np.ndarray, warning: np.ndarray, rate: np.ndarray, campaigns: int, t_end: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Run ``campaigns`` campaigns in date order over the latent histories (times in seconds since 1970).

    Returns:
        The churn times, causes and warning starts after the campaigns (new arrays), and the truth: one row per
        listed customer and campaign (``as_of``, ``customer_id``, ``action``, ``contact_group``, ``would_churn``,
        ``in_warning``, the true effect of each action and of the one given, ``do_not_disturb`` (every action
        pushes them away: a would-be stayer both actions can push), ``saved``, ``pushed``).
    """
    churn_at, cause, warning = churn_at.copy(), cause.copy(), warning.copy()
    rows = []
    for as_of in campaign_dates(campaigns):
        start = (as_of + pd.Timedelta(days=1)).value / 1e9  # contacts follow the list's as-of day
        end = start + HORIZON_DAYS * DAY
        listed = np.flatnonzero((signup < start - 30 * DAY) & (churn_at > start))
        would_churn = churn_at[listed] <= end
        in_warning = warning[listed] <= start
        shares = true_shares(cause[listed], in_warning, rate[listed])
        effects = {a: np.where(would_churn, keep, -push) for a, (keep, push) in shares.items()}
        pick = rng.integers(0, len(ACTIONS), listed.size)
        held = rng.random(listed.size) < HOLDOUT_SHARE
        keep = np.choose(pick, [shares[a][0] for a in ACTIONS])
        push = np.choose(pick, [shares[a][1] for a in ACTIONS])
        draw = rng.random(listed.size)
        saved = ~held & would_churn & (draw < keep)
        pushed = ~held & ~would_churn & (draw < push)
        # kept: a fresh lifetime from the end of the horizon, its own warning weeks before it
        new_churn = end + rng.exponential(700 * DAY, listed.size)
        idx = listed[saved]
        churn_at[idx] = new_churn[saved]
        warning[idx] = churn_at[idx] - rng.uniform(60, 120, idx.size) * DAY
        # pushed away: gone within three weeks of the contact, without warning signs beforehand
        idx = listed[pushed]
        churn_at[idx] = start + rng.uniform(1, 21, idx.size) * DAY
        warning[idx] = churn_at[idx]
        cause[idx] = "silent"
        rows.append(pd.DataFrame({
            "as_of": as_of.date().isoformat(), "customer_id": customer_id[listed],
            "action": np.array(ACTIONS, dtype=object)[pick],
            "contact_group": np.where(held, "holdout", "treatment"),
            "would_churn": would_churn, "in_warning": in_warning,
            "true_effect_call": effects[CALL], "true_effect_offer": effects[OFFER],
            "true_effect": np.choose(pick, [effects[a] for a in ACTIONS]),
            "do_not_disturb": np.max([effects[a] for a in ACTIONS], axis=0) < 0,
            "saved": saved, "pushed": pushed}))
    cause = np.where(churn_at < t_end, cause, "none")
    return churn_at, cause, warning, pd.concat(rows, ignore_index=True)


TRUE_EFFECT_COLUMN = {CALL: "true_effect_call", OFFER: "true_effect_offer"}


def campaign_lists(truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The campaigns as the risk lists a team would have kept, by as-of date: who was listed, the action and the
    contact group (no model's scores: the simulated lists were not scored by a model)."""
    out = {}
    for as_of, part in truth.groupby("as_of", sort=True):
        out[str(as_of)] = pd.DataFrame({
            "customer_id": part["customer_id"].to_numpy(), "as_of": pd.Timestamp(str(as_of)),
            "action": part["action"].to_numpy(), "contact_group": part["contact_group"].to_numpy(),
            "model_version": "simulated campaign"})
    return out


__all__ = ["ACTIONS", "CALL", "HEAVY_RATE", "HOLDOUT_SHARE", "MAX_CAMPAIGNS", "OFFER", "TRUE_EFFECT_COLUMN", "campaign_dates",
           "campaign_lists", "simulate", "true_shares"]
