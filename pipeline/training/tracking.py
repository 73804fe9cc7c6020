"""MLflow: tracking, the pyfunc model from code, and the champion/challenger registry gate.

Nothing here runs at import. The tracking URI is ``MLFLOW_TRACKING_URI`` or a local SQLite store in
the working directory (``sqlite:///mlflow.db``), set when a command starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import socket
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.config import Params
from pipeline.core.errors import ModelError, StoreError, said
from pipeline.core.files import file_sha256, machine_id, pid_alive, unmatched_file
from pipeline.training import gate
from pipeline.training.train import TrainResult, study_storage

DEFAULT_URI = "sqlite:///mlflow.db"
PYFUNC_CODE = Path(__file__).resolve().parents[2] / "models" / "mlflow_pyfunc.py"


def configure() -> str:
    """Point MLflow at the configured store (call from the CLI, never at import)."""
    import warnings

    import mlflow

    warnings.filterwarnings("ignore", message=".*type hints.*")
    import logging

    warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the command's own summary readable
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
    mlflow.set_tracking_uri(uri)
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    return uri


def check_stores(params: Params, tuning: bool = True) -> None:
    """Open the MLflow store (and, when tuning, the Optuna study store) before any work: a damaged or
    unreachable store found only after training would throw the run away."""
    import mlflow
    from mlflow import MlflowClient

    uri = mlflow.get_tracking_uri()
    folder = store_folder(uri)
    if folder is not None and not folder.is_dir():
        raise StoreError(f"MLflow tracking store {uri}: the folder {folder} does not exist, so there is no store there "
                         "(none is created in a folder that is not there). Fix: point MLFLOW_TRACKING_URI at an existing "
                         "store, or create the folder for a new one")
    try:
        # two first runs on a new store: one creates its tables while the other waits, instead of seeing half of them
        with _quiet(), store_lock(), _answer_within(STORE_ANSWER_S):
            MlflowClient().search_experiments(max_results=1)
    except Exception as exc:
        if uri.startswith(("http://", "https://")):
            raise StoreError(f"MLflow tracking server {uri} did not answer within {STORE_ANSWER_S} s ({said(exc)}). "
                             "Fix: check that the server is up and reachable from this machine (try "
                             f"{uri.rstrip('/')}/health), or point MLFLOW_TRACKING_URI at another store") from None
        raise StoreError(f"MLflow tracking store {uri} cannot be opened ({said(exc)}). Fix: point "
                         "MLFLOW_TRACKING_URI at a working store, or move the damaged file aside (a new, empty "
                         "store is then created)") from None
    if tuning and params.tuning.n_trials > 0:
        import optuna

        try:
            with store_lock(Path(params.tuning.storage)):
                optuna.storages.RDBStorage(study_storage(params))
        except Exception as exc:
            raise StoreError(f"Optuna study store {params.tuning.storage} (tuning.storage) cannot be opened "
                             f"({said(exc)}). Fix: point tuning.storage at another file, or move the "
                             "damaged one aside (earlier studies in it cannot be resumed)") from None


# A tracking server is asked once, with this long to answer, before any work: MLflow's own defaults (a 120 s
# timeout, 7 retries with backoff) took over 4 minutes to give up on a server that did not answer.
STORE_ANSWER_S = 10


@contextlib.contextmanager
def _answer_within(seconds: int):
    """MLflow's HTTP requests in the block time out after ``seconds`` and are not retried (its environment
    settings, as they were before the block afterwards; the rest of a run keeps MLflow's retries)."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")}
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(seconds)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sqlite_file(uri: str) -> Path | None:
    """The file of a SQLite tracking URI (``sqlite:///mlflow.db``, ``sqlite:////abs/path.db``); None otherwise."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ""
    return None if path in ("", ":memory:") else Path(path)


def store_folder(uri: str) -> Path | None:
    """The local folder a tracking URI keeps its store in (a SQLite file's folder, a file store's parent); None for
    a server."""
    from urllib.parse import urlparse

    if uri.startswith("sqlite:"):
        file = sqlite_file(uri)
        return None if file is None else file.parent
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path or uri).parent
    return None


@contextlib.contextmanager
def store_lock(db_file: Path | None = None):
    """Hold an exclusive lock beside a local store (``FILE.lock``) while it is created or changed in ways two
    processes must not do at once (creating its tables, the experiment, a registered model). Servers: no lock."""
    import fcntl

    if db_file is None:
        import mlflow

        db_file = sqlite_file(mlflow.get_tracking_uri())
    if db_file is None or not db_file.parent.is_dir():
        yield
        return
    try:
        fh = open(db_file.with_name(db_file.name + ".lock"), "a")  # noqa: SIM115 - held for the block
    except OSError:  # a read-only folder: the store itself reports what is wrong
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def mark_interrupted_runs() -> list[str]:
    """Mark failed the training runs left RUNNING by a process of this machine that no longer exists (killed
    mid-run); returns their ids."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name("churn")
    if experiment is None:
        return []
    marked = []
    host, machine = socket.gethostname(), machine_id()
    for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=500):
        tags = run.data.tags
        pid = tags.get("churn.pid")
        # the same machine: the same host name and, where the run says, the same boot and process-id namespace (a
        # container with the host's name and ids of its own shares the store, but not the processes)
        same = tags.get("churn.host") == host and tags.get("churn.machine", machine) == machine
        if not same or not (pid or "").isdigit() or pid_alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, "churn.interrupted", "the process running it ended before the run did")
        client.set_terminated(run.info.run_id, status="FAILED")
        marked.append(run.info.run_id)
    return marked


def repair_aliases(name: str) -> None:
    """Put right an alias a killed run did not get to set: a version registered with its decision (``champion`` or
    ``challenger``) but never marked ``registry_alias_set`` takes that alias, unless a newer version holds it."""
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception:  # no such model yet
        return
    for v in sorted(versions, key=lambda v: int(v.version)):
        tags = v.tags or {}
        decision = tags.get("registry_decision")
        if decision not in ("champion", "challenger") or tags.get("registry_alias_set"):
            continue
        try:
            current = int(client.get_model_version_by_alias(name, decision).version)
        except Exception:
            current = 0
        if int(v.version) > current:
            client.set_registered_model_alias(name, decision, v.version)
        client.set_model_version_tag(name, v.version, "registry_alias_set", "true")


HASH_TAG = "sha256/"  # tag prefix: sha256/<path of a file inside the logged model> -> its SHA-256
BUNDLE_PATH = "artifacts/bundle"  # where the bundle lies inside the logged pyfunc model


@dataclass
class LoadedModel:
    """A model bundle loaded for scoring, and where it came from (for labels and run records)."""

    bundle: object
    label: str
    uri: str
    version: str | None = None
    run_id: str | None = None


def model_file_hashes(model_dir: str | Path) -> dict[str, str]:
    """SHA-256 of every file of a logged model (path inside the model -> hash), as recorded in the registry.
    ``registered_model_meta`` is left out: MLflow writes it when the model is registered, after the hashes."""
    root = Path(model_dir)
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "registered_model_meta"}


def _recorded(uri: str) -> tuple[str, dict[str, str], str | None, str | None]:
    """Label, the file hashes recorded for a model URI (registry version tags, else the logging run's tags),
    its registry version and run id."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    rest = uri.removeprefix("models:/")
    if uri.startswith("models:/") and not rest.startswith("m-"):
        by_alias = "@" in rest
        name, _, ref = rest.partition("@") if by_alias else rest.rpartition("/")
        try:
            mv = client.get_model_version_by_alias(name, ref) if by_alias else client.get_model_version(name, ref)
        except Exception:
            raise ModelError(
                f"no model is registered as {rest} in {mlflow.get_tracking_uri()}. Run `churn train` first, "
                "or pass --model with a model URI or a saved bundle folder.") from None
        label = f"{name} v{mv.version} ({ref})" if by_alias else f"{name} v{mv.version}"
        _check_run_finished(client, mv.run_id, f"{name} v{mv.version}" + (f" ({ref})" if by_alias else ""))
        return label, dict(mv.tags or {}), str(mv.version), mv.run_id
    if uri.startswith(("runs:/", "models:/m-")):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
        try:
            if uri.startswith("models:/m-"):  # a logged model's id: the hashes are on the run that logged it
                run_id = client.get_logged_model(rest.split("/", 1)[0]).source_run_id
            tags = client.get_run(run_id).data.tags
        except Exception:
            raise ModelError(f"no MLflow run {run_id} in {mlflow.get_tracking_uri()}. Fix: pass --model a registered "
                             "model (models:/churn-model@champion), a logged one (runs:/RUN_ID/model) or a saved bundle "
                             "folder") from None
        return uri, dict(tags), None, run_id
    return uri, {}, None, None


def _check_run_finished(client, run_id: str | None, what: str) -> None:
    """A registered version whose training run did not finish (failed, killed, still running) is not used: its
    logging may have stopped half-way, and nobody checked what it registered."""
    if not run_id:
        return
    try:
        status = client.get_run(run_id).info.status
    except Exception:
        raise ModelError(f"{what}: its training run {run_id} is not in {_uri()}, so the version cannot be checked "
                         "against it. Refusing to load it. Fix: point --model at another version, or retrain with "
                         "`churn train`") from None
    if status != "FINISHED":
        raise ModelError(f"{what}: its training run {run_id} did not finish (status {status}). Refusing to load a "
                         "version a run left unfinished. Fix: point the alias at a version whose run finished "
                         "(MlflowClient().set_registered_model_alias), pass --model with one, or retrain with "
                         "`churn train`")


def _uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def check_identity(bundle, uri: str, version: str | None, run_id: str | None) -> None:
    """The model's own record of the run that logged it (``metadata["mlflow_run_id"]``, inside the hashed files)
    against the registry row or run it was loaded through, and the registered name stored with its problem against
    the name it was loaded under: a row pointing at another version's files is refused (ModelError). A model saved
    before it carried its run id is not checked."""
    from pipeline.build.problem import registered_name

    own = bundle.metadata.get("mlflow_run_id")
    if own and run_id and own != run_id:
        row = f"version {version}" if version else "the run"
        raise ModelError(f"{uri}: the registry's {row} names run {run_id}, and the model files it points at were "
                         f"logged by run {own}: the row points at another version's files. Refusing to load the "
                         "model. Fix: register the model again from its own run (or retrain with `churn train`)")
    name = registered_name(bundle.metadata)
    if name and uri.startswith("models:/") and not uri.startswith("models:/m-"):
        rest = uri.removeprefix("models:/")
        loaded_as = rest.partition("@")[0] if "@" in rest else rest.rpartition("/")[0]
        if loaded_as and loaded_as != name:
            raise ModelError(f"{uri}: this version was trained for registered model {name} "
                             f"(registry.model_name), not {loaded_as}. Refusing to score with a model of another "
                             f"problem. Fix: pass --model models:/{name}@champion, or set registry.model_name to the "
                             "model of this problem")


def load_model(uri: str) -> LoadedModel:
    """The model bundle behind a local bundle folder or an MLflow model URI, loaded by this package's own code.

    Nothing stored with the model is executed: the model's files are downloaded with MLflow's artifact API,
    every file is checked against the hashes recorded when the model was logged and registered, and the bundle
    is read from its data files by :meth:`ModelBundle.load` (which checks its own manifest before LightGBM parses
    anything). A changed, missing, cut-short or foreign file is a ModelError naming it.
    """
    from models.bundle import ModelBundle

    local = Path(uri)
    if (local / "bundle.json").exists():
        return LoadedModel(ModelBundle.load(local), f"local:{local.name}", str(local))
    import mlflow

    label, tags, version, run_id = _recorded(uri)
    expected = {k.removeprefix(HASH_TAG): v for k, v in tags.items() if k.startswith(HASH_TAG)}
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
        try:
            with _quiet():
                root = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        except Exception as exc:
            raise ModelError(f"cannot load model {uri} ({said(exc)}). Fix: pass --model a "
                             "registered model (models:/churn-model@champion), a logged one (runs:/RUN_ID/model) or a "
                             "saved bundle folder (one holding bundle.json), complete and unchanged") from None
        if not expected and uri.startswith(("models:/", "runs:/")):
            raise ModelError(f"{uri} has no record of its files' hashes (registered before models were hashed), so it "
                             "cannot be checked. Fix: retrain with `churn train`")
        bad = unmatched_file(root, expected)
        if bad is not None:
            path, _, missing = bad
            if missing:
                raise ModelError(f"{path} of model {uri} is missing. Refusing to load the model. Fix: restore the model "
                                 "as it was registered, or retrain with `churn train`")
            raise ModelError(f"{path} of model {uri} does not match the hash recorded when it was registered "
                             "(changed, cut short or replaced). Refusing to load the model. Fix: restore the model "
                             "as it was registered, or retrain with `churn train`")
        prefix = BUNDLE_PATH + "/"
        bundle_hashes = {k.removeprefix(prefix): v for k, v in expected.items()
                         if k.startswith(prefix) and k != prefix + "manifest.json"} or None
        bundle_dir = root / BUNDLE_PATH
        if not (bundle_dir / "bundle.json").exists() and not (bundle_dir / "manifest.json").exists():
            raise ModelError(f"cannot load model {uri} (no model bundle in it: {BUNDLE_PATH}/bundle.json). Fix: pass --model "
                             "a registered model (models:/churn-model@champion), a logged one (runs:/RUN_ID/model) or a "
                             "saved bundle folder (one holding bundle.json), complete and unchanged")
        bundle = ModelBundle.load(bundle_dir, expected_hashes=bundle_hashes)
    check_identity(bundle, uri, version, run_id)
    return LoadedModel(bundle, label, uri, version, run_id)


@contextlib.contextmanager
def _quiet():
    """MLflow's advice to add type hints to ``predict`` (features are validated by the bundle) is noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# MLflow param names: letters, digits, underscores, dashes, periods, spaces and slashes
PARAM_NAME = re.compile(r"^[\w\-. /]+$")


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow params, one per leaf (``label.horizon_days``); a mapping whose keys are free
    text (an action's sentence in ``targeting.action_effects``) is one param holding its JSON."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and all(PARAM_NAME.match(f"{key}.{inner}") for inner in v):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list | tuple | dict) else str(v)
    return out


@dataclass
class LoggedModel:
    run_id: str
    model_uri: str
    version: str | None = None
    decision: str | None = None
    message: str = ""
    hashes: dict[str, str] | None = None  # path inside the logged model -> SHA-256
    behind_baseline: str | None = None  # why a simple baseline ranks as well as the model (gate.behind_baselines)


DIST_NAME = "churn-pipeline"  # the package's distribution name (pyproject.toml)


def code_tags() -> dict[str, str]:
    """Which code made a run: the package version and, in a git checkout, the commit (``+dirty`` with uncommitted
    changes to tracked files). Never fails: what cannot be found is ``unknown``."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version(DIST_NAME)
    except PackageNotFoundError:
        package = "unknown"
    root = Path(__file__).resolve().parents[2]
    commit = "unknown"
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if head.returncode == 0 and head.stdout.strip():
            commit = head.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                   capture_output=True, text=True, timeout=5)
            commit += "+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        pass
    tags = {"churn.package_version": package, "churn.code_revision": commit}
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit.removesuffix("+dirty")
    return tags


def run_name(command: str, params: Params, as_of: str) -> str:
    """A run's name in the MLflow UI: what ran, for which registered model, churn kind and horizon, as of when."""
    label = params.label
    return f"{command} {params.registry.model_name} {label.kind} {label.horizon_days}d as of {as_of}"


def _start(name: str, started_ms: int | None, command: str):
    """A run of the ``churn`` experiment named ``name``, started at ``started_ms`` (epoch milliseconds: when the
    command began, not when logging began), tagged with the process, the command and the code that ran it."""
    import mlflow
    from mlflow import MlflowClient

    with store_lock():  # two first runs on a new store must not both create the experiment
        experiment = mlflow.set_experiment("churn")
    # who runs it: a run left RUNNING by a process that no longer exists is marked failed by the next one
    tags = {"churn.pid": str(os.getpid()), "churn.host": socket.gethostname(), "churn.machine": machine_id(),
            "churn.command": command, **code_tags()}
    created = MlflowClient().create_run(experiment.experiment_id, start_time=started_ms, tags=tags, run_name=name)
    return mlflow.start_run(run_id=created.info.run_id)


def finish_run(run_id: str) -> None:
    """Set a finished run's end time to now: its registration and the registry gate come after the logging."""
    import time

    from mlflow import MlflowClient

    MlflowClient().set_terminated(run_id, status="FINISHED", end_time=int(time.time() * 1000))


def used_settings(result: TrainResult) -> dict[str, str]:
    """MLflow params of what the models were trained with, tuning included: each estimator's settings
    (``churn_model.num_leaves`` where ``model.num_leaves`` is params.yaml's), its boosting rounds, and the tuned
    settings alone (``tuned.*``)."""
    bundle = result.bundle
    out = {f"churn_model.{k}": str(v) for k, v in bundle.churn.get_params().items()}
    out |= {f"loyalty_model.{k}": str(v) for k, v in bundle.loyalty.get_params().items()}
    out |= {"churn_model.rounds": str(bundle.churn.best_iteration_),
            "loyalty_model.rounds": str(bundle.loyalty.best_iteration_)}
    out |= {f"tuned.{k}": str(v) for k, v in (bundle.metadata.get("tuned_params") or {}).items()}
    return out


def _log_params(flat: dict[str, str]) -> None:
    import mlflow

    for i in range(0, len(flat), 90):  # MLflow caps a batch at 100 params
        mlflow.log_params(dict(list(flat.items())[i:i + 90]))


def log_training(result: TrainResult, params: Params, fingerprint: dict, validation_features: pd.DataFrame,
                 plots: dict[str, bytes], as_of: str, started_ms: int | None = None) -> LoggedModel:
    """Log params (those of params.yaml and those the models used, tuning included), data fingerprint, cutoffs,
    metrics beside baselines, plots, the study and the model. The run starts at ``started_ms`` (the command's
    start) and the model it logs carries the run's id (``metadata["mlflow_run_id"]``), checked when it is loaded."""
    import mlflow
    from mlflow.models import infer_signature

    with _start(run_name("train", params, as_of), started_ms, "train") as run:
        _log_params(_flatten(params.to_dict()) | used_settings(result))
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        mlflow.set_tags({"as_of": as_of, "data_hash": fingerprint["hash"],
                         "validation_cutoff": str(result.validation_cutoff.date()),
                         "train_cutoffs": ",".join(str(c.date()) for c in result.train_cutoffs)})
        for scorer, row in result.churn_table.iterrows():
            prefix = "val" if scorer == "model" else f"baseline_{scorer}"
            mlflow.log_metrics({f"{prefix}_{k}": float(v) for k, v in row.items() if pd.notna(v)})
        for scorer, row in result.loyalty_table.iterrows():
            mlflow.log_metrics({f"loyalty_{scorer}_{k}": float(v) for k, v in row.items()})
        if result.value_table is not None:
            for scorer, row in result.value_table.iterrows():
                mlflow.log_metrics({f"value_if_retained_{scorer}_{k}": float(v) for k, v in row.items() if pd.notna(v)})
            mlflow.log_text(result.value_table.to_csv(), "value_if_retained_vs_btyd.csv")
        mlflow.log_metrics({f"calibration_log_loss_{k}": v for k, v in result.calibration_scores.items()})
        margin = result.baseline_margin
        mlflow.log_metrics({f"val_roc_auc_margin_over_best_baseline{suffix}": float(margin[key])
                            for key, suffix in (("margin", ""), ("low", "_low"), ("high", "_high"))
                            if pd.notna(margin.get(key, float("nan")))})
        mlflow.log_metrics({f"time_{k}": v for k, v in result.timings.items()})
        mlflow.log_dict(result.study_summary, "optuna_study.json")
        mlflow.log_text(result.churn_table.to_csv(), "metrics_vs_baselines.csv")
        mlflow.log_text(result.loyalty_table.to_csv(), "loyalty_vs_baselines.csv")
        for name, png in plots.items():
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.png"
                path.write_bytes(png)
                mlflow.log_artifact(str(path), "plots")
        # the run's id inside the model's hashed files: a registry row pointing at another run's files is found
        bundle = dataclasses.replace(result.bundle, metadata={**result.bundle.metadata,
                                                               "mlflow_run_id": run.info.run_id})
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = bundle.save(Path(tmp) / "bundle")
            example = validation_features[result.bundle.feature_names].head(5)
            output = bundle.predict(example)
            with _quiet():
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=str(PYFUNC_CODE), artifacts={"bundle": str(bundle_dir)},
                    signature=infer_signature(example, output), input_example=example,
                    pip_requirements=model_requirements(),
                )
        with tempfile.TemporaryDirectory() as tmp:
            with _quiet():
                hashes = model_file_hashes(mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=tmp))
        mlflow.set_tags({HASH_TAG + path: sha for path, sha in hashes.items()})
    return LoggedModel(run.info.run_id, info.model_uri, hashes=hashes)


def log_evaluation(table: pd.DataFrame, params: Params, fingerprint: dict, plots: dict[str, bytes], as_of: str,
                   started_ms: int | None = None) -> str:
    """Log a backtest (``churn evaluate``) as a run of experiment ``churn``: params, the data fingerprint, each
    scorer's metrics per test cutoff (``backtest_<scorer>_<metric>``, step = the cutoff's place, oldest first) and
    their means, ``backtest.csv`` and the charts. Returns the run id."""
    import mlflow

    with _start(run_name("evaluate", params, as_of), started_ms, "evaluate") as run:
        _log_params(_flatten(params.to_dict()))
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        cutoffs = sorted(table["cutoff"].astype(str).unique())
        mlflow.set_tags({"kind": "evaluate", "as_of": as_of, "data_hash": fingerprint["hash"],
                         "test_cutoffs": ",".join(cutoffs)})
        numeric = [c for c in table.columns if c not in ("cutoff", "scorer") and pd.api.types.is_numeric_dtype(table[c])]
        for scorer, rows in table.groupby("scorer", sort=False):
            rows = rows.assign(cutoff=rows["cutoff"].astype(str))
            for column in numeric:
                values = rows.set_index("cutoff")[column].dropna()
                for cutoff, value in values.items():
                    mlflow.log_metric(f"backtest_{scorer}_{column}", float(value), step=cutoffs.index(cutoff))
                if len(values):
                    mlflow.log_metric(f"backtest_{scorer}_{column}_mean", float(values.mean()))
        mlflow.log_text(table.to_csv(index=False), "backtest.csv")
        for name, png in plots.items():
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.png"
                path.write_bytes(png)
                mlflow.log_artifact(str(path), "plots")
    return run.info.run_id


def model_requirements() -> list[str]:
    """What the pyfunc needs, pinned to the installed versions: given, MLflow does not infer them by loading the
    model in a subprocess (slow, and on a busy machine it times out with a warning in the command's output)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "scipy")]


def baseline_tags(margin: dict, behind: str | None) -> dict[str, str]:
    """Tags of a run and its model version saying how it stands against the best baseline on validation:
    ``baseline_verdict`` behind | ahead (| unmeasured: no baseline), the margin, its interval and the baseline."""
    if not margin or margin.get("best_baseline") is None:
        return {"baseline_verdict": "unmeasured"}
    return {"baseline_verdict": "behind" if behind else "ahead", "baseline_best": str(margin["best_baseline"]),
            "baseline_margin_roc_auc": f"{margin['margin']:+.4f}",
            "baseline_margin_interval": f"{margin['low']:+.4f} to {margin['high']:+.4f} ({margin['level']:.0%})"}


def register_and_gate(logged: LoggedModel, result: TrainResult, params: Params, validation_features: pd.DataFrame,
                      promote: bool = False,
                      champion_features: Callable[[object], pd.DataFrame] | None = None) -> LoggedModel:
    """Register the model; alias it ``champion`` only if it beats the current champion by
    ``registry.min_improvement`` on the validation rows neither has trained on (or ``promote``), else
    ``challenger``; with no such rows, ``registry.when_not_comparable`` decides (``pipeline.training.gate``). A version
    whose validation ROC-AUC does not beat the best baseline's by more than ``registry.min_margin_over_baselines`` is
    challenger whatever the champion (``promote`` overrides); the run and the version are tagged with the verdict.

    The champion is scored on the features it was built for: ``champion_features(bundle)`` gives its own feature
    table (its stored problem: families, windows, exclusions, data choices) at the validation rows' cutoffs, matched
    to the validation rows by customer and cutoff (a row its population lacks is not compared). Without it, the
    champion's columns of ``validation_features``."""
    import mlflow
    from mlflow import MlflowClient

    name, metric = params.registry.model_name, params.registry.metric
    client = MlflowClient()
    repair_aliases(name)
    new_score = float(result.churn_table.loc["model", metric])
    champion_score = champion_version = champion_scores = champion_meta = None
    try:
        champion = client.get_model_version_by_alias(name, "champion")
        champion_version = champion.version
    except Exception:  # no champion yet
        champion = None
    reason = ""
    if champion is not None:
        try:
            # loaded as scoring loads it: files checked against their hashes, no stored code run
            model = load_model(f"models:/{name}@champion").bundle
            # the champion's own inputs: a column it lacks fails here and is reported as such
            if champion_features is None:
                own = validation_features
                champion_scores = model.predict(own[model.feature_names])["churn_probability"].to_numpy()
            else:
                own = champion_features(model)
                scored = model.predict(own[model.feature_names])["churn_probability"].to_numpy()
                keys = ["customer_id", "cutoff"]
                champion_scores = validation_features[keys].merge(
                    own[keys].assign(_champion=scored), on=keys, how="left", validate="one_to_one"
                )["_champion"].to_numpy(dtype=float)
            champion_meta = model.metadata
        except Exception as exc:  # the champion cannot score today's features (ModelError) or cannot load
            reason = (f"current champion v{champion_version} could not be compared on this data ({said(exc, 120)}), "
                      "so it stays champion: a version is never promoted because the other could not be scored. "
                      "Check both, then pass --promote to make this version champion")
    behind = gate.behind_baselines(result.baseline_margin, params.registry)
    if promote:
        decision, reason = "champion", "forced with --promote" + (f" (behind a baseline: {behind})" if behind else "")
    elif behind:  # a simple baseline ranks as well: not promoted, whatever the champion
        decision, reason = "challenger", f"{behind}, so it is not promoted; pass --promote to make it champion anyway"
    elif champion is None:
        decision, reason = "champion", "no champion yet"
    elif champion_scores is None:
        decision = "challenger"
    else:  # only on rows neither has trained on; none: registry.when_not_comparable (pipeline/gate.py)
        outcome = gate.compare(result.validation, new_score, champion_scores, result.bundle.metadata, champion_meta,
                               str(champion_version), params.registry)
        decision, reason, champion_score = outcome.decision, outcome.reason, outcome.champion_score
        new_score = new_score if outcome.new_score is None else outcome.new_score
    # Registered with its decision and its files' hashes in one call: a version never exists without them (a run
    # killed before the alias is set is put right by the next run's repair_aliases).
    tags = {"registry_decision": decision, "registry_reason": reason[:4000], **baseline_tags(result.baseline_margin, behind),
            **{HASH_TAG + path: sha for path, sha in (logged.hashes or {}).items()}}
    # MLflow prints "Created version N ..." to stderr; the decision printed below already says it
    with contextlib.redirect_stderr(io.StringIO()), store_lock():
        version = mlflow.register_model(logged.model_uri, name, tags=tags).version
    client.set_registered_model_alias(name, decision, version)
    client.set_model_version_tag(name, version, "registry_alias_set", "true")
    for key, value in {"registry_version": version, "registry_decision": decision, "registry_reason": reason,
                       **baseline_tags(result.baseline_margin, behind)}.items():
        client.set_tag(logged.run_id, key, value)
    client.log_metric(logged.run_id, f"registry_new_{metric}", new_score)
    if champion_score is not None:
        client.log_metric(logged.run_id, f"registry_champion_{metric}", champion_score)
    logged.version, logged.decision, logged.behind_baseline = str(version), decision, behind
    logged.message = f"{name} v{version} -> {decision}: {reason}"
    return logged
