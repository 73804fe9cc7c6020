"""The figures of docs/effects.md: learn effects from generated campaigns with known truth and judge the learned
model against that truth on customers it never saw.

    .venv/bin/python benchmarks/effects_figures.py [--customers 20000] [--campaigns 4] [--seed 42]

Prints: the Qini coefficient with its interval (and ranking by risk), the Spearman correlation of learned and true
effects, and the true value kept by contacting the top 20% by predicted net saving against the top 20% by churn
probability x value (the same budget; each customer's true effect of the action they get x their true value if
retained)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pipeline.data.samples import CHUNK, write_sample
from pipeline.data.samples.campaigns import ACTIONS, TRUE_EFFECT_COLUMN
from pipeline.data.samples.retail import generate_chunk, true_value_if_retained
from pipeline.outcomes import effects as fx
from pipeline.outcomes.learn.run import figures_inputs, learn_effects
from pipeline.scoring.targeting import effect_net_saving

ROOT = Path(__file__).resolve().parents[1]


def truth_figures(run, truth, cfg_costs: tuple[float, float], budget: float = 0.2) -> dict:
    """Spearman of learned vs true effects and the true value kept by each ranking, on the held-out rows."""
    held = run.test_rows.reset_index(drop=True)
    truth_rows = truth.campaigns.rename(columns={"as_of": "campaign"})
    joined = held.merge(truth_rows, on=["campaign", "customer_id"], how="left", validate="one_to_one",
                        suffixes=("", "_truth"))
    predicted = run.model.predict(joined[run.model.feature_names_])
    given = fx.given_action_effect(predicted, joined["action"])
    rho_given = spearmanr(given, joined["true_effect"]).statistic
    rho_by_action = {a: float(spearmanr(predicted[a], joined[TRUE_EFFECT_COLUMN[a]]).statistic) for a in ACTIONS}
    value_true = np.concatenate([
        true_value_if_retained(truth, day, 90).reindex(part["customer_id"]).to_numpy()
        for day, part in joined.groupby("campaign", sort=False)])
    order = np.concatenate([part.index.to_numpy() for _, part in joined.groupby("campaign", sort=False)])
    value = np.empty(len(joined))
    value[order] = value_true
    risk, value_est, _ = figures_inputs(joined, run.model, 90)
    contact, offer = cfg_costs
    saving = np.column_stack([effect_net_saving(predicted[a].to_numpy(), risk, value_est,
                                                _Costs(contact, offer)) for a in ACTIONS])
    best = saving.argmax(axis=1)
    k = int(round(budget * len(joined)))
    true_by_action = joined[[TRUE_EFFECT_COLUMN[a] for a in ACTIONS]].to_numpy()
    rows = np.arange(len(joined))
    by_saving = np.argsort(-saving[rows, best], kind="stable")[:k]
    kept_effect = float((true_by_action[by_saving, best[by_saving]] * value[by_saving]).sum())
    by_risk = np.argsort(-(risk * value_est), kind="stable")[:k]
    kept_risk_given = float((joined["true_effect"].to_numpy()[by_risk] * value[by_risk]).sum())
    kept_risk_same = float((true_by_action[by_risk, best[by_risk]] * value[by_risk]).sum())
    dnd_true = joined["do_not_disturb"].to_numpy(bool)  # every action pushes them away (the generator's truth)
    dnd_predicted = predicted.to_numpy().max(axis=1) < 0
    oracle = np.argsort(-(true_by_action.max(axis=1) * value), kind="stable")[:k]
    return {"rows": int(len(joined)), "budget_customers": k,
            "spearman_given_action": float(rho_given), "spearman_by_action": rho_by_action,
            "true_value_kept": {"top_by_predicted_net_saving": kept_effect,
                                "top_by_risk_x_value_with_list_action": kept_risk_given,
                                "top_by_risk_x_value_with_learned_action": kept_risk_same,
                                "oracle_top_by_true_effect_x_value": float((true_by_action.max(axis=1) * value)[oracle].sum())},
            "ratio_vs_risk_x_value": kept_effect / kept_risk_given if kept_risk_given > 0 else None,
            "do_not_disturb_share_true": float(dnd_true.mean()),
            "do_not_disturb_share_predicted": float(dnd_predicted.mean()),
            # of the customers every action truly pushes away: the share the learner predicts below zero for
            # every action (never contacted), and the share of the top 20% by predicted net saving they make up
            "do_not_disturb_found": float(dnd_predicted[dnd_true].mean()) if dnd_true.any() else None,
            "do_not_disturb_in_top_by_net_saving": float(dnd_true[by_saving].mean()),
            "do_not_disturb_in_top_by_risk_x_value": float(dnd_true[by_risk].mean())}


class _Costs:
    def __init__(self, contact_cost: float, offer_cost: float):
        self.contact_cost, self.offer_cost = contact_cost, offer_cost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.customers > CHUNK:
        raise SystemExit(f"--customers up to {CHUNK} (one generator chunk, whose truth this script regenerates)")
    with tempfile.TemporaryDirectory(prefix="effects-figures-") as tmp:
        data = Path(tmp) / "data"
        write_sample(data, args.customers, args.seed, campaigns=args.campaigns)
        _, truth = generate_chunk(args.customers, args.seed * 100_003, campaigns=args.campaigns)
        run = learn_effects(ROOT / "params.yaml", [data / "campaigns"], data, register=False,
                            overrides=[f"seed={args.seed}"])
    ev = {k: v for k, v in run.metadata["evaluation"].items() if k != "curve"}
    figures = {"settings": vars(args), "evaluation": ev, "passed": run.metadata["passed"],
               "truth": truth_figures(run, truth, (run.metadata["contact_cost"], run.metadata["offer_cost"]))}
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
