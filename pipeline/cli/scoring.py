"""Scoring commands: ``churn score`` and ``churn report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import (
    AsOfOpt,
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
    warn,
    with_engine,
)


@app.command()
@handle_errors
def score(
    data: DataOpt,
    as_of: AsOfOpt,
    out_path: Annotated[Path | None, typer.Option("--out", help="Risk list .parquet or .csv (default risk_asof=DATE.parquet)")]
    = None,
    model: Annotated[str | None, typer.Option("--model", help="MLflow model URI or a saved bundle folder (default: "
                                                   "models:/REGISTRY.MODEL_NAME@champion).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
    allow_stale: Annotated[bool, typer.Option(
        "--allow-stale", help="Score even when the data ends more than scoring.max_data_age_days before --as-of.")] = False,
    previous: Annotated[Path | None, typer.Option(
        "--previous", help="An earlier risk list to compare with (default: the newest risk_asof=DATE file before "
        "--as-of in the output's folder, if any).")] = None,
    no_previous: Annotated[bool, typer.Option("--no-previous", help="Compare with no earlier list.")] = False,
    effects: Annotated[Path | None, typer.Option(
        "--effects", help="An effect model folder from churn learn-effects --out (default: the registered "
        "REGISTRY.MODEL_NAME-effects@champion, used when its held-out Qini is above zero).")] = None,
    no_effects: Annotated[bool, typer.Option("--no-effects", help="Target by the average effects of "
                                             "targeting.action_effects, not by an effect model.")] = False,
) -> None:
    """Score every customer as of a date: risk list with drivers and actions, SHAP values, drift check.

    Safe to re-run: the outputs are one set, switched in together (all new or all old, whatever stops the run),
    and the same inputs give the same files.
    """
    from pipeline.scoring import run
    from pipeline.scoring.run import sidecar

    target = out_path or Path(f"risk_asof={as_of}.parquet")
    sidecars = {f"--out ({suffix[1:]})": sidecar(target, suffix) for suffix in run.SIDECARS}
    check_paths({"--out": target, **sidecars}, {"--data": data, "--params": params, "--previous": previous,
                                                "--model": model if model and Path(model).exists() else None,
                                                "--effects": effects})
    made = run.score(params, data, as_of, out_path, model, with_engine(set_, engine), allow_stale, previous,
                     no_previous, ConsoleLog(), effects, no_effects)
    print_score_summary(made.result, made.path, made.summary.get("currency", ""))
    for text in made.result.summary.get("action_notes", []):
        warn(text, "note", code="action_note")
    if made.changes is not None:
        print_changes(made.changes)


def print_changes(c: dict) -> None:
    from pipeline.outputs.labels import newly_in_band

    since = f"since {c['previous_as_of']} ({Path(c['previous_list']).name})"
    population = f"{c['entered']:,} customers new to the population, {c['left']:,} gone from it"
    if c["comparable"]:
        out.print(f"changes {since}: {c['newly_high']:,} {newly_in_band(c['top_band'])} ({c['newly_high_entered']:,} "
                  f"of them new); risk up 1 point or more for {c['risk_up']:,}, down for {c['risk_down']:,}; "
                  f"{population}", highlight=False)
    else:
        out.print(f"changes {since}: probabilities not compared; {population}", highlight=False)
    if c["note"]:
        note(c["note"])


def print_score_summary(result, target: Path, currency: str = "") -> None:
    from pipeline.core.money import money
    from pipeline.outputs.labels import (
        TERMS,
        WIN_BACK_LIST,
        band_label,
        band_rule_line,
        contact_label,
        effects_basis_words,
        family_label,
        feature_label,
        group_counts,
        in_sentence,
        money_words,
        targeting_profit_sentence,
        win_back_words,
    )
    from pipeline.scoring.run import sidecar

    s = result.summary
    out.print(band_rule_line(s["band_rule"]), highlight=False)
    t = Table(title=f"risk list as of {s['as_of']}", title_justify="left")
    t.add_column(in_sentence(TERMS["risk_band"]))
    t.add_column("customers", justify="right")
    t.add_column("share", justify="right")
    t.add_column("value at risk", justify="right")
    t.add_column(contact_label("treatment"), justify="right")
    t.add_column(contact_label("holdout"), justify="right")
    for band, count in s["bands"].items():
        part = result.risk_list[result.risk_list["risk_band"] == band]
        groups = part["contact_group"].value_counts()
        t.add_row(band_label(band), f"{count:,}", f"{count / max(s['customers'], 1):.1%}",
                  money(part["value_at_risk"].sum(), currency), f"{groups.get('treatment', 0):,}",
                  f"{groups.get('holdout', 0):,}")
    out.print(t)
    out.print(f"customers scored: {s['customers']:,} with {s['model_version']}; "
              f"total value at risk: {money(s['value_at_risk'], currency)} (churn probability x value if retained, "
              f"{money(s['value_if_retained'], currency)} in all); lifetime value "
              f"({s['value_rule']['lifetime_months']} months): {money(s['lifetime_value'], currency)}")
    g, tg = s["targeting"]["groups"], s["targeting"]
    capacity = ("everyone with a positive expected net saving" if tg["capacity"] is None
                else f"capacity {tg['capacity']:,}")
    out.print(f"call list ({capacity}, {tg['holdout_share']:.0%} held out; a contact costs "
              f"{money_words(tg['contact_cost'], currency)}): {group_counts(g)}; expected net saving of the contacts: "
              f"{money(tg['net_saving_contacted'], currency)} over the next {(s.get('label') or {}).get('horizon_days')} "
              f"days, {effects_basis_words(tg.get('effects'))}", highlight=False)
    horizon = (s.get("label") or {}).get("horizon_days")
    out.print(targeting_profit_sentence(tg, horizon, currency), highlight=False)
    if tg["win_back"]["customers"]:
        out.print(f"{WIN_BACK_LIST}: {tg['win_back']['customers']:,} customers. "
                  f"{win_back_words(tg['win_back_gaps'], horizon)}", highlight=False)
    families = result.global_families
    top = families[families["actionable"]].head(3) if "actionable" in families.columns else families.head(3)
    named = ", ".join(f"{family_label(r.family)} ({r.mean_abs_effect_pp * 100:.1f} pts)" for r in top.itertuples())
    out.print(f"why customers leave (behaviour a call can act on): {named}", highlight=False)

    def listing(moved: list[dict]) -> str:
        return ", ".join(f"{feature_label(d['feature'])} (PSI {d['psi']:.2f})" for d in moved)

    if s["drifted_features"]:
        warn(f"features shifted since training: {listing(s['drifted_features'])}", label="data drift", code="data_drift")
    else:
        out.print("data drift: no feature over the PSI threshold")
    if s.get("ageing_features_moved"):
        out.print("moved with the age of the customer base, as they do by construction (not drift): "
                  f"{listing(s['ageing_features_moved'])}", highlight=False)
    out.print(f"wrote {target} (+ {sidecar(target, '_shap.parquet').name}, {sidecar(target, '_summary.json').name}, "
              f"{sidecar(target, '_shap_summary.png').name}, run record {sidecar(target, '_run.json').name}, "
              f"{sidecar(target, '_manifest.json').name})")


@app.command()
@handle_errors
def report(
    scores: Annotated[Path, typer.Option("--scores", help="Risk list written by `churn score`.")],
    out_path: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path("report.html"),
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Also export the risk list to this .xlsx file.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Self-contained HTML report for retention teams (and an optional Excel export of the risk list)."""
    from pipeline.outputs import run as outputs_run
    from pipeline.scoring import run
    from pipeline.scoring.run import sidecar

    check_paths({"--out": out_path, "--xlsx": xlsx},
                {"--scores": scores, "--params": params, **{f"--scores ({s[1:]})": sidecar(scores, s) for s in run.SIDECARS}})
    made = outputs_run.report(params, scores, out_path, xlsx, set_)
    out.print(f"wrote report for {made.customers:,} customers -> {out_path}")
    if xlsx is not None:
        out.print(f"wrote Excel call list for {made.customers:,} customers -> {xlsx}")
