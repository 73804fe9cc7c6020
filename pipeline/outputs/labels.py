"""Every word people read about a run's results: the report, Excel, the command line and the outcomes page take
their band, group, tier and rule wording from here (feature and family words come from the feature registry)."""

from __future__ import annotations

from pipeline.core.config import Params


def currency_of(cfg: Params) -> str:
    """The currency amounts are in: ``scoring.currency`` (also written in reasons); empty when not set."""
    return cfg.scoring.currency.strip()


def band_rule_line(rule: dict) -> str:
    """How the risk bands were drawn, with the probability thresholds where bands are thresholds."""
    if "thresholds" not in rule:
        shares = ", ".join(f"{b} top {v:.0%}" for b, v in rule["bands"].items())
        return f"risk bands by share of customers (cumulative): {shares}"
    bounds = ", ".join(f"{b} >= {v:.1%}" for b, v in rule["thresholds"].items() if v > 0)
    if rule["by"] == "base_rate_multiple":
        multiples = ", ".join(f"{b} {m:g}x" for b, m in rule["multiples"].items() if m > 0)
        return (f"risk bands: {bounds} churn probability ({multiples} the validation churn rate "
                f"{rule['base_rate']:.1%})")
    return f"risk bands: {bounds} churn probability"
