"""``churn outcomes``: the figures of a risk list once its horizon has passed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import (
    ConsoleLog,
    DataOpt,
    EngineOpt,
    ParamsOpt,
    SetOpt,
    app,
    check_paths,
    handle_errors,
    note,
    out,
    with_engine,
)


@app.command()
@handle_errors
def outcomes(
    risk_list: Annotated[Path, typer.Option("--risk-list", help="Risk list written by `churn score` a horizon or more ago.")],
    data: DataOpt,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the figures as a self-contained HTML page.")] = None,
    write_effects: Annotated[Path | None, typer.Option(
        "--write-effects", help="Write the measured action effects, shrunk towards the priors, as YAML "
        "(targeting.action_effects) to copy into params.yaml.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Once a risk list's horizon has passed: was the list right, did it point at the value lost, and did the
    actions keep customers (treatment against holdout)? Logs the figures against the model version in MLflow."""
    from pipeline.outcomes import run

    check_paths({"--json": json_path, "--html": html, "--write-effects": write_effects},
                {"--risk-list": risk_list, "--data": data, "--params": params})
    made = run.outcomes(params, risk_list, data, json_path, html, write_effects, with_engine(set_, engine), ConsoleLog())
    figures = made.figures
    print_outcomes(figures)
    if figures["mlflow"]["run_id"] is None:
        note(figures["mlflow"]["message"])
    else:
        out.print(figures["mlflow"]["message"], highlight=False)
    if "json" in made.written:
        out.print(f"wrote every figure -> {json_path}")
    if "html" in made.written:
        out.print(f"wrote outcomes page -> {html}")
    if "effects" in made.written:
        measured = sum(a["measured"] for a in figures["actions"])
        out.print(f"wrote action effects ({measured} measured, the rest at their priors) -> {write_effects}; copy its "
                  "action_effects into params.yaml's targeting section to use them")


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _amount(value: float | None, currency: str = "") -> str:
    from pipeline.core.money import money

    return "-" if value is None else money(value, currency)


def _with_interval(estimate: float | None, bounds: list[float | None]) -> str:
    """``33% [26,41]``: an estimate and its 95% interval in percent, short enough for a table of actions."""
    if estimate is None:
        return "-"
    return _share(estimate, 0) + ("" if bounds[0] is None else f" [{bounds[0] * 100:.0f},{bounds[1] * 100:.0f}]")


def print_outcomes(f: dict) -> None:
    from pipeline.outputs.labels import TERMS, churn_definition, column_labels, contact_label, in_sentence

    q, v, cur = f["quality"], f["value"], f.get("currency", "")
    auc, pr, brier = ("-" if q[k] is None else f"{q[k]:.4f}" for k in ("roc_auc", "pr_auc", "brier"))
    out.print(f"outcomes of {f['risk_list']} as of {f['as_of']} ({f['model_version']}), churn means "
              f"{churn_definition(f['label'])} (to {f['horizon_end']}): {f['customers']:,} customers, "
              f"churned {_share(q['actual_churn_rate'])} (predicted {_share(q['mean_predicted_probability'])}); "
              f"ROC-AUC {auc}, PR-AUC {pr}, Brier {brier}",
              highlight=False)
    for column in ("risk_band", "loyalty_tier", "contact_group"):
        rows, term, label = f[f"by_{column}"], in_sentence(TERMS[column]), column_labels(column)
        if not rows:
            continue
        t = Table(title=f"predicted and actual churn, value lost and revenue kept by {term}", title_justify="left")
        t.add_column(term, justify="left")
        for c in ("customers", "predicted", "churned", "value at risk", "value lost", "revenue kept"):
            t.add_column(c, justify="right")
        for r in rows:
            t.add_row(label(r[column]), f"{r['customers']:,}", _share(r["mean_predicted"]), _share(r["actual_rate"]),
                      _amount(r["value_at_risk"], cur), _amount(r["lost_value"], cur), _amount(r["revenue_kept"], cur))
        out.print(t)
    t = Table(title="calibration by decile of churn probability (1 = highest)", title_justify="left")
    for c in ("decile", "probability", "customers", "predicted", "churned"):
        t.add_column(c, justify="right")
    for r in q["calibration_by_decile"]:
        t.add_row(str(r["decile"]), f"{r['min_probability']:.3f}-{r['max_probability']:.3f}", f"{r['customers']:,}",
                  _share(r["mean_predicted"]), _share(r["actual_rate"]))
    out.print(t)
    if v["capture"]:
        t = Table(title="share of value lost in the top", title_justify="left")
        for c in ("ranking", "top 10%", "top 20%"):
            t.add_column(c, justify="left" if c == "ranking" else "right")
        for r in v["capture"]:
            t.add_row(r["ranking"], _share(r["top_10"]), _share(r["top_20"]))
        out.print(t)
    if v["lost_value"] is not None:
        out.print(f"value lost (churned x {v['value_column']}: the spend the churners would have made had they stayed): "
                  f"{_amount(v['lost_value'], cur)}")
    out.print(f"revenue kept (actual spend of those who stayed): {_amount(v['revenue_kept'], cur)} of "
              f"{_amount(v['revenue'], cur)}")
    if f["actions"]:
        contact, holdout = contact_label("treatment"), contact_label("holdout")
        t = Table(title=f"actions: churn rate of \"{contact}\" against \"{holdout}\", 95% intervals in %; effect = share "
                        "of would-be churners kept", title_justify="left")
        t.add_column("action", min_width=18)
        for c in (contact, "churned", holdout, "churned ", "difference", "effect", "prior", "shrunk"):
            t.add_column(c, justify="right", no_wrap=True)
        pooled = f["all_actions"]
        for a in [*f["actions"], {"action": "all actions", **pooled, "prior": None, "shrunk_effect": None}]:
            t.add_row(a["action"], f"{a['treatment']['customers']:,}",
                      _with_interval(a["treatment"]["rate"], a["treatment"]["interval"]),
                      f"{a['holdout']['customers']:,}", _with_interval(a["holdout"]["rate"], a["holdout"]["interval"]),
                      _with_interval(a["difference"]["estimate"], a["difference"]["interval"]),
                      _with_interval(a["effect"]["estimate"], a["effect"]["interval"]),
                      _share(a["prior"]), _share(a["shrunk_effect"]))
        out.print(t)
    for text in f["notes"]:
        note(text)


@app.command("learn-effects")
@handle_errors
def learn_effects(
    lists: Annotated[list[Path], typer.Option(
        "--lists", help="Past risk lists (or folders of them) whose horizon has passed, each with held-out customers; "
        "repeat for several campaigns.")],
    data: DataOpt,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Also save the effect model in this folder (for churn score --effects).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="Do not register it in MLflow.")] = False,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Learn whom each action helps from past lists and their holdouts: an effect model per customer and action,
    judged on customers it never saw (Qini against random and against ranking by risk), registered beside the churn
    model; churn score targets by it when it beats random targeting."""
    from pipeline.cli.common import print_table
    from pipeline.outcomes.learn.run import check_model_folder
    from pipeline.outcomes.learn.run import learn_effects as run_learn
    from pipeline.outputs.labels import QINI
    from pipeline.training.effects_registry import EFFECTS_FILE

    if out_dir is not None:
        check_model_folder(out_dir)
    # --out is a folder: its model file stands for it (an existing folder is allowed; inside an input it is not)
    check_paths({"--out": out_dir / EFFECTS_FILE if out_dir is not None else None, "--json": json_path},
                {"--data": data, "--params": params, **{f"--lists ({i + 1})": p for i, p in enumerate(lists)}})
    made = run_learn(params, lists, data, out_dir, json_path, not no_register, with_engine(set_, engine), ConsoleLog())
    m = made.metadata
    ev = m["evaluation"]
    q, qr = ev["qini"], ev["qini_by_risk"]
    out.print(f"effect model of {', '.join(m['actions'])} learned from {len(m['lists'])} list(s) "
              f"({m['fitted_rows']:,} rows); judged on {ev['customers']:,} rows of customers it never saw:",
              highlight=False)
    print_table(f"{QINI} ({q['level']:.0%} interval)", ["ranking by", QINI, "interval"],
                [["predicted effect", f"{q['coefficient']:.4f}", f"{q['interval'][0]:.4f} to {q['interval'][1]:.4f}"],
                 ["churn risk", f"{qr['coefficient']:.4f}", f"{qr['interval'][0]:.4f} to {qr['interval'][1]:.4f}"]])
    print_table("Measured effect (fall in churn rate, contacted against held out) in the top of the list",
                ["top", "by predicted effect", "by churn risk", "everyone (random)"],
                [[f"{t['share']:.0%}", _share(t["by_effect"]), _share(t["by_risk"]), _share(ev["effect_overall"])]
                 for t in ev["effect_in_top"]])
    kept = ev["value_kept_top"]
    out.print(f"value kept by contacting the top {kept['share']:.0%} ({kept['customers']:,}), measured against their "
              f"holdout: by predicted net saving {_amount(kept['by_net_saving'], m.get('currency', ''))}, by churn "
              f"probability x value {_amount(kept['by_risk_x_value'], m.get('currency', ''))}", highlight=False)
    for text in m["notes"]:
        note(text)
    if made.registered:
        r = made.registered
        out.print(f"registered as {r['name']} v{r['version']} ({r['alias']})", highlight=False)
    for kind, path in made.written.items():
        out.print(f"wrote {'the effect model' if kind == 'model' else 'every figure'} -> {path}")
