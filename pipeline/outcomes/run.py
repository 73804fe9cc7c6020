"""The body of ``churn outcomes``: once a risk list's horizon has passed, find what happened to its customers,
measure the list and the actions against the holdout, log the figures to MLflow and write the files asked for.
Callable from Python (``outcomes(...)``); what it says goes through a ``RunLog``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.build.run import load, open_data, params_for_model
from pipeline.core.errors import DataError
from pipeline.core.files import check_writable, write_bytes
from pipeline.core.runlog import RunLog
from pipeline.outcomes import figures as oc
from pipeline.outcomes.tracking import log_outcomes
from pipeline.outputs.labels import currency_of
from pipeline.outputs.report.outcomes import build_outcomes_report
from pipeline.outputs.sets import read_risk_list
from pipeline.training import tracking


@dataclass
class OutcomesRun:
    """Every figure (as ``--json`` writes it) and the files written."""

    figures: dict
    written: dict[str, Path]


def effects_header(figures: dict) -> list[str]:
    """The comment lines above a ``--write-effects`` file: where the effects come from and how to use them."""
    k = figures["shrinkage"]["pseudo_count"]
    lines = [f"Action effects measured by `churn outcomes` on {figures['risk_list']} as of {figures['as_of']} "
             f"(outcomes up to {figures['horizon_end']}).",
             f"Shrunk towards the prior: (n_h x measured + {k:g} x prior) / (n_h + {k:g}), n_h the holdout "
             "customers, clipped to [0, 1];",
             "actions without a treatment group, a holdout group or a churner in the holdout keep their prior.",
             "Use: copy action_effects and action_effects_measured into the targeting section of params.yaml (they replace "
             "those there): lists then say their effects are measured, and on which day.", ""]
    for a in figures["actions"]:
        if a["measured"]:
            lines.append(f"{a['action']}: treatment {a['treatment']['customers']}, holdout {a['holdout']['customers']}, "
                         f"measured {a['effect']['estimate']:.3f}, prior {a['prior']:.3f} -> {a['shrunk_effect']:.3f}")
    return lines


def outcomes(params: str | Path | None, risk_list: str | Path, data: str | Path, json_path: Path | None = None,
             html: Path | None = None, write_effects: Path | None = None, overrides: list[str] | tuple[str, ...] = (),
             log: RunLog | None = None) -> OutcomesRun:
    """``churn outcomes``: was the list right, did it point at the value lost, and did the actions keep customers
    (treatment against holdout)? ``data`` must reach the end of the list's horizon. Logs the figures against the
    model version in MLflow; writes every figure (``json_path``), an HTML page (``html``) and the measured action
    effects as YAML for params.yaml (``write_effects``) when asked."""
    log = log or RunLog()
    risk_list = Path(risk_list)
    cfg = load(params, overrides)
    for target in (json_path, html, write_effects):
        if target is not None:
            check_writable(target)
    frame, summary = read_risk_list(risk_list)  # refuses a set whose parts come from different runs
    if frame.empty:
        raise DataError(f"{risk_list} lists no customer: there is nothing to follow up. Fix: pass a list with customers")
    day = oc.list_as_of(frame, summary)
    if isinstance(summary.get("problem"), dict):  # the problem the list's model was trained for applies again
        cfg = params_for_model(params, overrides, {"problem": summary["problem"]}, log, use="outcomes of",
                               features=False)
    label, label_notes = oc.list_label(summary, cfg.label)
    ds = open_data(data, cfg, log)
    oc.require_horizon_observed(day, label.horizon_days, ds.date_range()[1])
    weekly = oc.weekly_rows(ds, day, label.horizon_days)
    oc.require_horizon_covered(day, label.horizon_days, weekly)
    oc.require_customers_covered(ds, day, label.horizon_days, frame["customer_id"], weekly)  # per range of ids too
    in_sample = oc.in_sample_note(summary, day)
    if in_sample:
        log.warn(in_sample, code="hindsight")
    with log.status(f"finding what happened to {len(frame):,} customers from {day} to "
                    f"{oc.horizon_end(day, label.horizon_days)}..."):
        realised = oc.realised_outcomes(ds, cfg, label, day, frame["customer_id"])
    band_order = list(summary.get("bands") or cfg.scoring.risk_bands)
    figures = oc.outcome_figures(frame, realised, label=label, as_of=day, band_order=band_order,
                                 tier_order=list(cfg.loyalty.tiers), priors=cfg.targeting.action_effects,
                                 default_prior=cfg.targeting.default_effect)
    figures = {"risk_list": str(risk_list), **figures, "currency": currency_of(cfg), "in_sample": bool(in_sample),
               "notes": ([in_sample] if in_sample else []) + label_notes + figures["notes"]}
    tracking.configure()
    with log.status("logging the outcomes to MLflow..."):
        logged = log_outcomes(figures, oc.headline_metrics(figures), str(risk_list))
    figures["mlflow"] = {"run_id": logged.run_id, "message": logged.message}
    written: dict[str, Path] = {}
    if json_path is not None:
        written["json"] = write_bytes(json.dumps(figures, indent=2).encode(), json_path)
    if html is not None:
        written["html"] = write_bytes(build_outcomes_report(figures, risk_list.name).encode("utf-8"), html)
    if write_effects is not None:
        written["effects"] = write_bytes(oc.effects_yaml(figures["effects"], effects_header(figures),
                                                     str(figures["horizon_end"])[:10]).encode("utf-8"),
                                         write_effects)
    return OutcomesRun(figures, written)
