"""Rows that lie after a date, for no-leakage tests: new history and late changes to old rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def with_rows_after(tables: dict[str, pd.DataFrame], after: date, seed: int, n: int = 50) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` with ``n`` extra rows per table dated after the end of ``after``, plus
    invoices paid and subscriptions ended after it (facts that only become known later)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(after) + pd.Timedelta(days=1)

    def later(size: int) -> pd.Series:
        return pd.Series(start + pd.to_timedelta(rng.integers(0, 200 * 86400, size), unit="s")).astype("datetime64[us]")

    out = {}
    for name, df in tables.items():
        df = df.copy(deep=True)
        picks = df.sample(n=min(n, len(df)), random_state=seed, replace=False).reset_index(drop=True)
        if name in ("transactions", "events"):
            picks["timestamp"] = later(len(picks)).values
            if name == "transactions":
                picks["amount"] = picks["amount"] * rng.uniform(0.1, 5, len(picks))
                picks["order_id"] = [f"future-{seed}-{i}" for i in range(len(picks))]
        elif name == "invoices":
            picks["issued_at"] = later(len(picks)).values
            picks["due_date"] = picks["issued_at"] + pd.Timedelta(days=14)
            picks["paid_at"] = picks["due_date"] + pd.Timedelta(days=30)
            picks["invoice_id"] = [f"future-{seed}-{i}" for i in range(len(picks))]
            unpaid = df["paid_at"].isna() & (df["issued_at"] <= pd.Timestamp(after))
            df["paid_at"] = df["paid_at"].astype("datetime64[us]")
            df.loc[unpaid, "paid_at"] = later(int(unpaid.sum())).values  # paid only later
        elif name == "subscriptions":
            picks["start_date"] = later(len(picks)).values
            active = df["end_date"].isna()
            df["end_date"] = df["end_date"].astype("datetime64[us]")
            df.loc[active, "end_date"] = later(int(active.sum())).values  # cancelled only later
        elif name == "customers":
            picks["customer_id"] = [f"new-{seed}-{i}" for i in range(len(picks))]
            picks["signup_date"] = later(len(picks)).dt.normalize().values
        out[name] = pd.concat([df, picks], ignore_index=True)
    return out
