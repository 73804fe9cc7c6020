"""The feature contract: every registered feature, built-in or your own, on any data.

How it works, and why: docs/features.md, section "pipeline/build/contracts.py".
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from features.registry import FAMILIES, Feature, FeatureSpec
from pipeline.core.errors import ChurnError, said

UNITS = {"days", "count", "currency", "ratio", "share", "flag", "probability", "purchases", "points", "items",
         "score 0-10", "score 1-5", "rating", "orders per month", "category", "value", "events per day", "hours",
         "minutes", "weeks", "months"}
NOT_COVERED = "missing for every customer of the data, so nothing can be checked (or learned) from it"
CHECKS = ("metadata", "description", "determinism", "no look-ahead", "no mutation")  # and "build": it runs


@dataclass
class Finding:
    """One broken promise: which check, which feature (None: the build as a whole) and what was seen."""

    check: str
    feature: str | None
    message: str
    family: str | None = None

    def __str__(self) -> str:
        where = f"{self.feature} (family {self.family}): " if self.feature else ""
        return f"{self.check}: {where}{self.message}"


@dataclass
class ContractBuilds:
    """The builds the checks compare: twice on the data, once with rows after the as-of date."""

    first: pd.DataFrame
    second: pd.DataFrame
    future: pd.DataFrame
    spec: FeatureSpec
    notices: list[str]
    mutated_tables: list[str]
    mutated_by_finish: list[str]


@dataclass
class ContractReport:
    as_of: date
    customers: int
    spec: FeatureSpec
    notices: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def frame_hash(frame: pd.DataFrame) -> str:
    """Content, index and dtypes of a frame: any change in place changes it."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
    h.update(",".join(f"{c}:{t}" for c, t in frame.dtypes.items()).encode())
    return h.hexdigest()


def tables_hash(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    return {name: frame_hash(frames[name]) for name in sorted(frames)}


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
            picks["end_date"] = pd.Series(pd.NaT, index=picks.index).astype("datetime64[us]")  # started later, running
            active = df["end_date"].isna()
            df["end_date"] = df["end_date"].astype("datetime64[us]")
            starts = df.loc[active, "start_date"].astype("datetime64[us]").to_numpy()
            # cancelled only later (and never before the subscription started)
            df.loc[active, "end_date"] = np.maximum(later(int(active.sum())).to_numpy(), starts)
        elif name == "customers":
            picks["customer_id"] = [f"new-{seed}-{i}" for i in range(len(picks))]
            picks["signup_date"] = later(len(picks)).dt.normalize().values
        out[name] = pd.concat([df, picks], ignore_index=True)
    return out


def _watching_finish(mutated: list[str]) -> dict:
    """Families whose ``finish`` step is wrapped to record a change to the frame it is given."""
    originals = {}
    for name, fam in FAMILIES.items():
        if fam.finish is None:
            continue

        def watched(stats: pd.DataFrame, ctx, _finish: Callable = fam.finish, _name: str = name) -> pd.DataFrame:
            before = frame_hash(stats)
            out = _finish(stats, ctx)
            if frame_hash(stats) != before:
                mutated.append(_name)
            return out

        originals[name] = fam
        FAMILIES[name] = dataclasses.replace(fam, finish=watched)
    return originals


def contract_builds(tables: dict[str, pd.DataFrame], params, as_of: date, seed: int = 3,
                    future_rows: int = 200) -> ContractBuilds:
    """Build the feature table twice from ``tables`` and once with ``future_rows`` rows per table dated after
    ``as_of``, recording any change to the inputs or to a fitted family's ``finish`` input."""
    from pipeline.build.features import build_features, context_for, feature_spec
    from pipeline.engine.duckdb import dataset_from_frames

    before = tables_hash(tables)
    mutated_by_finish: list[str] = []
    originals = _watching_finish(mutated_by_finish)
    try:
        ds = dataset_from_frames(tables, params)
        first = build_features(ds, params, as_of)
        spec, notices = feature_spec(context_for(ds, params, as_of))
        second = build_features(dataset_from_frames(tables, params), params, as_of)
        future = with_rows_after(tables, as_of, seed=seed, n=future_rows)
        with_future = build_features(dataset_from_frames(future, params), params, as_of)
    finally:
        FAMILIES.update(originals)
    after = tables_hash(tables)
    mutated = [name for name in before if after.get(name) != before[name]]
    return ContractBuilds(first, second, with_future, spec, notices, mutated, sorted(set(mutated_by_finish)))


def metadata_problems(feat: Feature) -> list[str]:
    """What is wrong with one feature's metadata (empty when nothing is)."""
    out = []
    if feat.family not in FAMILIES or not FAMILIES[feat.family].features:
        out.append(f"family {feat.family!r} is not a registered family")
    if feat.unit not in UNITS:
        out.append(f"unit {feat.unit!r} is not one of {', '.join(sorted(UNITS))}")
    if feat.risk_direction not in (-1, 0, 1):
        out.append(f"risk_direction {feat.risk_direction!r} must be -1, 0 or 1")
    if feat.kind not in ("numeric", "categorical"):
        out.append(f"kind {feat.kind!r} must be numeric or categorical")
    if feat.name != feat.name.lower() or " " in feat.name or not feat.name.isidentifier():
        out.append("the name must be lower-case words joined by underscores (a column name in SQL and Python)")
    if not isinstance(feat.description, str) or not feat.description.strip():
        out.append("no description template")
    return out


def duplicate_names(spec: FeatureSpec) -> list[str]:
    names = spec.table_names  # the model's inputs and the condition-only features: columns of one table
    return sorted({n for n in names if names.count(n) > 1})


def description_problems(feat: Feature, frame: pd.DataFrame, rows: int = 200) -> list[str]:
    """The description renders a sentence for customers who have the feature, with their numbers in it."""
    if feat.name not in frame.columns:
        return ["the build gives no column of this name"]
    present = frame[frame[feat.name].notna()]
    if present.empty:
        return [NOT_COVERED]
    texts = [feat.describe(r[feat.name], r) for r in present.head(rows).to_dict("records")]
    texts = [t for t in texts if t is not None]
    if not texts:
        return []  # a feature that never says a sentence (context) has nothing to render
    rendered = [t for t in texts if "unknown" not in t]
    if not rendered:
        return [f"no customer's sentence renders fully, e.g. {texts[0]!r}"]
    braces = [t for t in texts if "{" in t or "}" in t]
    if braces:
        return [f"a field of the template is left unfilled, e.g. {braces[0]!r}"]
    # the template proper (not a sentence for a zero, missing or negative value) says the customer's number
    own = [feat.describe(v, r) for r in present.head(rows).to_dict("records")
           if (v := r[feat.name]) is not None and _template(feat, v) == feat.description]
    own = [t for t in own if t and "unknown" not in t]
    if feat.kind == "numeric" and feat.unit != "flag" and own and not any(ch.isdigit() for ch in " ".join(own)):
        return [f"the sentence does not say the customer's number, e.g. {own[0]!r}"]
    return []


def _template(feat: Feature, value: object) -> str | None:
    return feat.template_for(value) if hasattr(feat, "template_for") else feat.description


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _same(a: object, b: object, exact: bool) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if not exact and isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def compare_builds(name: str, first: pd.DataFrame, other: pd.DataFrame, exact: bool) -> str | None:
    """How two builds differ on one feature (None: they agree), naming the first customer that differs;
    ``exact``: bit for bit, else floats within a relative 1e-9."""
    if list(first["customer_id"]) != list(other["customer_id"]):
        return "the builds hold different customers"
    if name not in other.columns:
        return "the column is missing from the second build"
    pairs = list(zip(first[name].tolist(), other[name].tolist(), strict=True))
    differ = [i for i, (a, b) in enumerate(pairs) if not _same(a, b, exact)]
    if not differ:
        return None
    a, b = pairs[differ[0]]
    return f"customer {first['customer_id'].iloc[differ[0]]}: {a!r} then {b!r} ({len(differ)} customers differ)"


def check_features(tables: dict[str, pd.DataFrame], params, as_of: date, seed: int = 3) -> ContractReport:
    """Every check over every feature the registered families give with these tables."""
    from pipeline.build.features import context_for, feature_spec
    from pipeline.engine.duckdb import dataset_from_frames

    spec, notices = feature_spec(context_for(dataset_from_frames(tables, params), params, as_of))
    if duplicate_names(spec):  # two columns of one name: nothing else can be checked
        report = ContractReport(as_of, 0, spec, notices)
        for name in duplicate_names(spec):
            families = " and ".join(f.family for f in spec.all_features if f.name == name)
            report.findings.append(Finding("metadata", name, f"families {families} both give a feature of this name; "
                                           "every feature name must be unique", families))
        return report
    try:
        builds = contract_builds(tables, params, as_of, seed=seed)
    except ChurnError:
        raise
    except Exception as exc:  # a family's SQL or finish step that fails: the user's code, said plainly
        report = ContractReport(as_of, 0, FeatureSpec())
        report.findings.append(Finding("build", None, f"the feature build fails ({said(exc, 400)}); the families "
                                       f"registered are {', '.join(FAMILIES)}"))
        return report
    spec = builds.spec
    report = ContractReport(as_of, len(builds.first), spec, builds.notices)
    for feat in spec.all_features:  # condition-only features too: reasons' conditions read them

        def add(check: str, message: str, feat: Feature = feat) -> None:
            report.findings.append(Finding(check, feat.name, message, feat.family))

        for message in metadata_problems(feat):
            add("metadata", message)
        for message in description_problems(feat, builds.first):
            if message == NOT_COVERED:  # a fact about this data, not a fault of the feature's code
                report.notices.append(f"{feat.name} (family {feat.family}): {message}")
            else:
                add("description", message)
        if feat.name not in builds.first.columns:
            continue
        if (diff := compare_builds(feat.name, builds.first, builds.second, exact=True)) is not None:
            add("determinism", f"two builds of the same data differ: {diff}")
        if (diff := compare_builds(feat.name, builds.first, builds.future, exact=False)) is not None:
            add("no look-ahead", f"rows dated after {as_of} change it: {diff}")
    add = report.findings.append
    for table in builds.mutated_tables:
        add(Finding("no mutation", None, f"the {table} table given to the build was changed in place"))
    for family in builds.mutated_by_finish:
        add(Finding("no mutation", None, f"family {family!r}: its finish step changes the frame it is given; "
                    "return a new frame instead"))
    return report


def tables_of(ds, customers: int = 0) -> dict[str, pd.DataFrame]:
    """The validated tables of a dataset as frames in canonical columns, for the contract: every customer, or
    a fixed sample of ``customers`` of those with transactions (the same ids every run)."""
    con = ds.con
    where = ""
    if customers > 0:
        con.execute("CREATE OR REPLACE TEMP TABLE _contract_ids AS SELECT customer_id FROM "
                    "(SELECT DISTINCT customer_id FROM clean_transactions) "
                    f"ORDER BY hash(customer_id), customer_id LIMIT {int(customers)}")
        where = " WHERE customer_id IN (SELECT customer_id FROM _contract_ids)"
    frames = {name: con.sql(f"SELECT * FROM clean_{name}{where}").to_arrow_table().to_pandas()
              for name in sorted(ds.tables)}
    if customers > 0:
        con.execute("DROP TABLE _contract_ids")
    return frames
