"""Faults in the middle of a run, a model store that cannot be tampered with, batch jobs that fail loudly.

One small trained store (300 generated customers, no tuning) serves every case. Each case asserts the exit code,
the message's key words, that there is no traceback, and that the output set is whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("--set", "tuning.n_trials=0", "--set", "model.max_rounds=60", "--set", "loyalty.max_rounds=40")
AS_OF = "2025-12-31"


def churn(*args: str, cwd: Path, uri: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri or f"sqlite:///{cwd / 'mlflow.db'}",
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false", "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=env)


def clean(res: subprocess.CompletedProcess) -> str:
    """The run's stderr on one line, after checking it holds no traceback and no library's own warning."""
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]
    assert "site-packages" not in res.stderr, res.stderr[-3000:]  # every warning is the project's
    return " ".join(res.stderr.split())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A trained, registered model (plain --promote) and one scored output set in out/."""
    wd = tmp_path_factory.mktemp("faults")
    (wd / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert churn("sample-data", "--out", "data", "--customers", "300", "--seed", "11", cwd=wd).returncode == 0
    res = churn("train", "--data", "data", "--as-of", AS_OF, *SMALL, "--promote", "--run-record", "train_run.json", cwd=wd)
    assert res.returncode == 0, res.stderr[-3000:]
    clean(res)
    (wd / "train.log").write_text(res.stdout)
    res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", "out/risk.parquet", cwd=wd)
    assert res.returncode == 0, res.stderr[-3000:]
    clean(res)
    (wd / "score.log").write_text(res.stdout)
    model_dirs = list(wd.glob("mlruns/*/models/*/artifacts"))
    assert len(model_dirs) == 1
    return {"wd": wd, "model": model_dirs[0]}


def whole_set(main: Path) -> dict:
    """Assert the set beside ``main`` is one run's (manifest, hashes) and return its manifest."""
    from pipeline.outputs.sets import check_output_set

    manifest = check_output_set(main)
    assert manifest is not None and main.name in manifest["files"]
    return manifest


# -- faults in the middle of a run -----------------------------------------------------------------------------

KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from pipeline.outputs import sets
    moment, main = sys.argv[1], sys.argv[2]
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    if moment == "before_switch":
        sets.OutputSet._commit = lambda self: die()
    if moment in ("after_rename", "after_switch"):
        real_replace = os.replace
        def replace(src, dst):
            if moment == "after_rename" and str(dst).endswith("current"):
                die()
            real_replace(src, dst)
            if moment == "after_switch" and str(dst).endswith("current"):
                die()
        os.replace = replace
    with sets.OutputSet(main, "new-run") as outputs:
        outputs.write_table(pd.DataFrame({"customer_id": ["new-run"]}), "risk.parquet")
        if moment == "first_file_written":
            die()
        outputs.write_bytes(b'{"run": "new-run"}', "risk_summary.json")
""")


def _write_set(main: Path, run: str) -> None:
    from pipeline.outputs.sets import OutputSet

    with OutputSet(main, run) as outputs:
        outputs.write_table(pd.DataFrame({"customer_id": [run]}), main.name)
        outputs.write_bytes(json.dumps({"run": run}).encode(), "risk_summary.json")


@pytest.mark.parametrize(("moment", "expect"), [
    ("first_file_written", "old"),  # killed right after the first file of the new set is written
    ("before_switch", "old"),  # every file written, killed before the switch
    ("after_rename", "old"),  # the new set complete in its folder, killed before the one rename that switches
    ("after_switch", "new-run"),  # killed right after the switch: the new set, whole
])
def test_kill_9_at_any_moment_leaves_one_whole_set_and_the_next_run_cleans_up(tmp_path, moment, expect):
    main = tmp_path / "risk.parquet"
    _write_set(main, "old")
    res = subprocess.run([sys.executable, "-c", KILL_SCRIPT, moment, str(main)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr
    manifest = whole_set(main)
    assert manifest["run_id"] == expect
    assert pd.read_parquet(main)["customer_id"].tolist() == [expect]
    assert json.loads((tmp_path / "risk_summary.json").read_text()) == {"run": expect}
    _write_set(main, "next")  # the next run removes what the killed one left
    leftovers = sorted(p.name for p in (tmp_path / ".risk.parquet.set").iterdir())
    assert leftovers == ["current", "lock", "next"]
    assert whole_set(main)["run_id"] == "next"


def test_an_error_between_files_leaves_the_old_set_and_no_temporary_folder(tmp_path, monkeypatch):
    from pipeline.outputs.sets import OutputSet

    main = tmp_path / "risk.parquet"
    _write_set(main, "old")

    def interrupted(self, data, name):
        raise KeyboardInterrupt

    monkeypatch.setattr(OutputSet, "write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _write_set(main, "new")
    assert whole_set(main)["run_id"] == "old"
    assert sorted(p.name for p in (tmp_path / ".risk.parquet.set").iterdir()) == ["current", "lock", "old"]


def test_temporary_files_a_killed_write_left_are_cleaned_by_the_next_write(tmp_path):
    from pipeline.core.files import write_bytes

    dead = tmp_path / ".report.html.99999999.x1y2.tmp"  # a process id no process has
    dead.write_text("half")
    old_style = tmp_path / ".report.html.abc123.tmp"  # written before temporary names carried the process id
    old_style.write_text("half")
    os.utime(old_style, (1, 1))
    write_bytes(b"<html>", tmp_path / "report.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@contextlib.contextmanager
def tmpfs(path: Path, size: str, readonly: bool = False):
    """A small tmpfs at ``path`` (needs root); None where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        yield None
        return
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}" + (",ro" if readonly else ""), "tmpfs", str(path)],
                         capture_output=True)
    if res.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_is_a_clear_error_with_the_old_set_intact(store, tmp_path):
    wd = store["wd"]
    used = sum(p.stat().st_size for p in (wd / "out" / ".risk.parquet.set").rglob("*") if p.is_file())
    with tmpfs(tmp_path / "small", f"{used + 150_000}") as disk:
        if disk is None:
            pytest.skip("no tmpfs here (needs root): test_a_full_disk_simulated covers the same path in-process")
        shutil.copytree(wd / "out", disk / "out", symlinks=True)
        before = (disk / "out" / "risk.parquet").read_bytes()
        res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", str(disk / "out" / "risk.parquet"), cwd=wd)
        message = clean(res)
        assert res.returncode == 6, res.stderr[-2000:]
        assert "cannot write" in message and "the disk is full" in message and "previous outputs are intact" in message
        assert (disk / "out" / "risk.parquet").read_bytes() == before
        whole_set(disk / "out" / "risk.parquet")
        assert not [p for p in (disk / "out" / ".risk.parquet.set").iterdir() if p.name.startswith(".tmp-")]


def test_a_full_disk_simulated(tmp_path, monkeypatch):
    """ENOSPC raised by the writer (monkeypatched): the same error path as a real full disk, on any machine."""
    from pipeline.core.errors import OutputError

    main = tmp_path / "risk.parquet"
    _write_set(main, "old")

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OutputError, match=r"cannot write .*: the disk is full .*previous outputs are intact"):
        _write_set(main, "new")
    monkeypatch.undo()
    assert whole_set(main)["run_id"] == "old"


@pytest.mark.slow
def test_an_unwritable_output_folder_is_found_before_any_work(store, tmp_path):
    wd = store["wd"]
    with tmpfs(tmp_path / "ro", "1m", readonly=True) as folder:
        if folder is None:  # not root: permissions stop us (root would write anyway)
            folder = tmp_path / "ro"
            folder.chmod(0o555)
        res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", str(folder / "risk.parquet"), cwd=wd)
        message = clean(res)
        assert res.returncode == 6 and "cannot write" in message and str(folder) in message
        assert "input accounting" not in res.stderr  # stopped before reading any data
        res = churn("report", "--scores", "out/risk.parquet", "--out", str(folder / "report.html"), cwd=wd)
        assert res.returncode == 6 and str(folder) in clean(res)


@pytest.mark.slow
def test_report_refuses_a_set_whose_parts_disagree(store, tmp_path):
    wd = store["wd"]
    mixed = tmp_path / "mixed"
    shutil.copytree(wd / "out", mixed, symlinks=True)
    summary = json.loads((mixed / "risk_summary.json").read_text())
    (mixed / "risk_summary.json").unlink()
    (mixed / "risk_summary.json").write_text(json.dumps({**summary, "customers": 1}))  # another run's summary
    res = churn("report", "--scores", str(mixed / "risk.parquet"), "--out", str(tmp_path / "r.html"), cwd=wd)
    message = clean(res)
    assert res.returncode == 3 and "risk_summary.json does not belong to run" in message and "parts disagree" in message
    assert not (tmp_path / "r.html").exists()
    (mixed / "risk_summary.json").unlink()
    res = churn("report", "--scores", str(mixed / "risk.parquet"), "--out", str(tmp_path / "r.html"), cwd=wd)
    assert res.returncode == 3 and "risk_summary.json is missing from the output set" in clean(res)
    res = churn("report", "--scores", "out/risk.parquet", "--out", str(tmp_path / "r.html"), cwd=wd)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.slow
def test_an_interrupted_training_run_is_marked_failed(store, monkeypatch):
    import mlflow

    from pipeline.training import tracking

    wd = store["wd"]
    uri = f"sqlite:///{wd / 'mlflow.db'}"
    # two runs of a process killed outright: one tagged as this machine's, one as a container's with this host name
    # but a process-id namespace of its own (its process ids mean nothing here: never judged from here)
    script = textwrap.dedent(f"""
        import os, signal, socket, mlflow
        from mlflow import MlflowClient
        from pipeline.core.files import machine_id
        mlflow.set_tracking_uri({uri!r})
        experiment = mlflow.set_experiment("churn")
        for machine in (machine_id(), "0" * 8):
            run = MlflowClient().create_run(experiment.experiment_id, tags={{
                "churn.pid": str(os.getpid()), "churn.host": socket.gethostname(), "churn.machine": machine}})
            print(run.info.run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    run_id, elsewhere = res.stdout.split()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()
    try:
        assert mlflow.get_run(run_id).info.status == "RUNNING"
        assert tracking.mark_interrupted_runs() == [run_id]
        assert mlflow.get_run(run_id).info.status == "FAILED"
        assert mlflow.get_run(elsewhere).info.status == "RUNNING"
        assert tracking.mark_interrupted_runs() == []
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_a_registered_version_always_has_its_decision_and_hashes(store, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    from pipeline.training import tracking

    wd = store["wd"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{wd / 'mlflow.db'}")
    tracking.configure()
    try:
        client = MlflowClient()
        v1 = client.get_model_version("churn-model", "1")
        assert v1.tags["registry_decision"] == "champion" and v1.tags["registry_reason"] == "forced with --promote"
        for path in ("artifacts/bundle/churn_model.txt", "artifacts/bundle/bundle.json", "mlflow_pyfunc.py", "MLmodel"):
            assert len(v1.tags[f"sha256/{path}"]) == 64
        assert (store["model"] / "artifacts" / "bundle" / "manifest.json").exists()
        # a run killed after registering, before the alias: the version carries its decision; the next run sets it
        with contextlib.redirect_stderr(open(os.devnull, "w")):
            v = mlflow.register_model(v1.source, "repair-model", tags={"registry_decision": "champion"})
        from mlflow.exceptions import MlflowException

        with pytest.raises(MlflowException):
            client.get_model_version_by_alias("repair-model", "champion")
        tracking.repair_aliases("repair-model")
        assert client.get_model_version_by_alias("repair-model", "champion").version == v.version
    finally:
        mlflow.set_tracking_uri(None)


RACE_SCRIPT = textwrap.dedent("""
    import sys, mlflow
    from pipeline.training import tracking
    from pipeline.core.config import load_params
    tracking.configure()
    tracking.check_stores(load_params(None, ["tuning.n_trials=1", "tuning.storage=" + sys.argv[1]]))
    with tracking.store_lock():
        mlflow.set_experiment("churn")
    print("ok")
""")


@pytest.mark.slow
def test_two_first_runs_racing_on_a_new_store_both_open_it(tmp_path):
    for round_ in range(2):  # without the lock, one of two such pairs failed in 3 of 3 tries
        folder = tmp_path / f"race{round_}"
        folder.mkdir()
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
        procs = [subprocess.Popen([sys.executable, "-c", RACE_SCRIPT, str(folder / "optuna.db")], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0 and stdout.strip() == "ok", stderr[-2000:]


def test_a_resumed_study_does_not_repeat_earlier_settings(tmp_path):
    import optuna

    from pipeline.core.config import load_params
    from pipeline.training.train import tune

    rng = np.random.default_rng(0)
    cutoffs = pd.Series(pd.to_datetime(["2025-01-01", "2025-04-15", "2025-08-01"]).repeat(150))
    X = pd.DataFrame(rng.normal(size=(len(cutoffs), 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=len(X)) > 0).to_numpy(int)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for trials in (1, 2, 3, 4):  # four sessions, one trial each, as interrupted runs resume
        params = load_params(None, [f"tuning.n_trials={trials}", "model.max_rounds=20"])
        tune(X, y, cutoffs, params, "resume", storage)
    study = optuna.load_study(study_name="resume", storage=storage)
    settings = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(settings) == 4 and len(set(settings)) == 4


@pytest.mark.slow
def test_ten_customers_is_a_clear_error_from_train(store, tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert churn("sample-data", "--out", "tiny", "--customers", "10", "--seed", "3", cwd=tmp_path).returncode == 0
    res = churn("train", "--data", "tiny", "--as-of", AS_OF, *SMALL, cwd=tmp_path)
    message = clean(res)
    assert res.returncode == 3 and "too few customers to train on" in message and "Fix:" in message
    assert "registry:" not in res.stdout


# -- a model store that cannot be tampered with ----------------------------------------------------------------

def _tamper_code(model: Path) -> str:
    with open(model / "mlflow_pyfunc.py", "a") as fh:
        fh.write(f"\nopen({str(model.parent / 'PWNED')!r}, 'w').write('ran')\n")
    return "mlflow_pyfunc.py"


def _tamper_calibrator(model: Path) -> str:
    path = model / "artifacts" / "bundle" / "bundle.json"
    doc = json.loads(path.read_text())
    doc["calibrator"] = {**doc["calibrator"], "method": "none"}
    path.write_text(json.dumps(doc, indent=1, sort_keys=True))
    return "bundle.json"


def _truncate_booster(model: Path) -> str:
    path = model / "artifacts" / "bundle" / "churn_model.txt"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    return "churn_model.txt"


def _garbage_booster(model: Path) -> str:
    (model / "artifacts" / "bundle" / "churn_model.txt").write_bytes(os.urandom(4096))
    return "churn_model.txt"


def _pickle_in_place(model: Path) -> str:
    (model / "artifacts" / "bundle" / "loyalty_model.txt").write_bytes(pickle.dumps({"evil": print}))
    return "loyalty_model.txt"


def _foreign_file(model: Path) -> str:
    (model / "artifacts" / "bundle" / "model.pkl").write_bytes(pickle.dumps([1, 2]))
    return "model.pkl"


@pytest.mark.parametrize("tamper", [_tamper_code, _tamper_calibrator, _truncate_booster, _garbage_booster,
                                    _pickle_in_place, _foreign_file])
@pytest.mark.slow
def test_a_tampered_model_is_refused_before_anything_is_parsed(store, tamper, tmp_path):
    wd, model = store["wd"], store["model"]
    backup = tmp_path / "backup"
    shutil.copytree(model, backup)
    try:
        name = tamper(model)
        res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", "tampered/risk.parquet", cwd=wd)
        message = clean(res)
        assert res.returncode == 4, res.stderr[-2000:]
        assert name in message and "Refusing to load the model" in message
        assert not (model.parent / "PWNED").exists()  # the stored code never ran
        assert not (wd / "tampered" / "risk.parquet").exists()
    finally:
        shutil.rmtree(model)
        shutil.copytree(backup, model)


@pytest.mark.parametrize("tamper", [_tamper_calibrator, _truncate_booster, _pickle_in_place])
@pytest.mark.slow
def test_a_tampered_local_bundle_is_refused_too(store, tamper, tmp_path):
    from pipeline.core.errors import ModelError
    from pipeline.training.tracking import load_model

    folder = tmp_path / "model"
    shutil.copytree(store["model"], folder)
    load_model(str(folder / "artifacts" / "bundle"))  # as saved: loads
    name = tamper(folder)
    with pytest.raises(ModelError, match=rf"{name}.*Refusing to load the model"):
        load_model(str(folder / "artifacts" / "bundle"))


# -- batch jobs that fail loudly ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_stale_data_stops_scoring_unless_allowed_and_the_run_record_says_everything(store):
    wd = store["wd"]
    stale = ("--as-of", "2026-06-30")  # scoring.max_data_age_days: 30 by default
    res = churn("score", "--data", "data", *stale, "--out", "stale/risk.parquet", "--run-record", "stale_fail.json", cwd=wd)
    message = clean(res)
    assert res.returncode == 3 and "the data is stale" in message and "--allow-stale" in message
    assert not (wd / "stale" / "risk.parquet").exists()
    failed = json.loads((wd / "stale_fail.json").read_text())
    assert failed["status"] == "failed" and failed["exit_code"] == 3 and "stale" in failed["error"]

    res = churn("score", "--data", "data", *stale, "--allow-stale", "--out", "stale/risk.parquet",
                "--run-record", "stale_ok.json", cwd=wd)
    clean(res)
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = whole_set(wd / "stale" / "risk.parquet")
    beside = json.loads((wd / "stale" / "risk_run.json").read_text())
    record = json.loads((wd / "stale_ok.json").read_text())
    for rec in (beside, record):
        assert rec["status"] == "ok" and rec["exit_code"] == 0 and rec["command"] == "score"
        assert rec["run_id"] == manifest["run_id"]
        assert any("the data is stale" in w["message"] and w["code"] == "stale_data" for w in rec["warnings"])
        assert "stale_data" in rec["warning_codes"] and rec["record_version"] == 2
        assert rec["data"]["last_day"] == AS_OF and rec["data"]["as_of_after_end_days"] == 181
        assert rec["tables"]["transactions"]["rows_read"] > 0 and set(rec["tables"]["transactions"]) == {
            "rows_read", "rows_used", "rows_quarantined", "customer_ids"}
        assert set(rec["tables"]["events"]["customer_ids"]) == {
            "ids_not_in_transactions", "ids_matched_by_value", "ids_left_unmatched_by_value"}
        assert len(rec["data_hash"]) == 16 and rec["model"]["version"] == "1" and rec["model"]["run_id"]
        assert rec["model"]["uri"] == "models:/churn-model@champion"
        for name in ("risk.parquet", "risk_shap.parquet", "risk_summary.json", "risk_shap_summary.png"):
            assert rec["outputs"][str(Path("stale") / name)]["sha256"] == manifest["files"][name]
        assert rec["started_at"] and rec["duration_s"] > 0
    # no wrapping without a terminal: the last line names every file of the set on one line
    assert any(line.startswith("wrote stale/risk.parquet") and line.endswith("risk_manifest.json)")
               for line in res.stdout.splitlines())


@pytest.mark.slow
def test_a_nightly_run_as_of_data_end_says_what_an_operator_needs(store):
    wd = store["wd"]
    (wd / "nightly").mkdir()
    uri = f"sqlite:///{wd / 'mlflow.db'}"  # the store the model was registered in, from another folder
    res = churn("score", "--data", "../data", "--as-of", "data-end", "--params", "../params.yaml",
                "--run-record", "run.json", cwd=wd / "nightly", uri=uri)
    rec = json.loads((wd / "nightly" / "run.json").read_text())
    assert "age_days" in rec["data"], (res.returncode, res.stderr[-3000:])
    if rec["data"]["age_days"] > 30:  # data-end judges the data's age against today's date: the sample ends in 2025
        assert res.returncode == 3 and "days before today" in clean(res)
        assert rec["exit_code"] == 3 and "stale" in rec["error"]
        res = churn("score", "--data", "../data", "--as-of", "data-end", "--allow-stale", "--params", "../params.yaml",
                    "--run-record", "run.json", cwd=wd / "nightly", uri=uri)
    assert res.returncode == 0, res.stderr[-3000:]
    clean(res)
    assert (wd / "nightly" / f"risk_asof={AS_OF}.parquet").exists()  # named by the day data-end stands for
    rec = json.loads((wd / "nightly" / "run.json").read_text())
    assert rec["as_of"] == {"given": "data-end", "date": AS_OF}
    assert rec["data"]["last_day"] == AS_OF and rec["data"]["as_of_after_end_days"] == 0 and rec["data"]["age_days"] >= 0
    assert rec["customers_scored"] > 0 and sum(rec["bands"].values()) == rec["customers_scored"]
    assert rec["drift"] and all(isinstance(d["psi"], float) and isinstance(d["flagged"], bool) for d in rec["drift"])
    assert {"loading the model", "reading and validating the data", "building features and scoring",
            "writing the output set"} <= set(rec["timings"])
    assert rec["peak_memory_mib"] > 50 and all(set(w) == {"code", "message"} for w in rec["warnings"])
    # diagnostics on stderr, each line with the time; results on stdout without it
    lines = res.stderr.splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ", line) for line in lines)
    assert "--as-of data-end: 2025-12-31" in res.stderr
    assert "building features as of 2025-12-31 and scoring: done in" in res.stderr
    assert re.search(r"score finished: exit 0 in [\d.]+ s, peak memory [\d,]+ MiB", lines[-1])
    assert "input accounting" not in res.stdout and "customers scored" in res.stdout


@pytest.mark.slow
def test_a_missing_table_the_model_needs_is_named(store):
    wd = store["wd"]
    shutil.copytree(wd / "data", wd / "no_events")
    (wd / "no_events" / "events.csv").unlink()
    res = churn("score", "--data", "no_events", "--as-of", AS_OF, "--out", "no_events_out/risk.parquet", cwd=wd)
    message = clean(res)
    assert res.returncode == 3, res.stderr[-2000:]
    error = message[message.index("error:"):]
    assert "no_events does not have: the events table" in error and "events.csv" in error and len(error) < 600
    assert not (wd / "no_events_out").exists()


@pytest.mark.slow
def test_output_without_a_terminal_is_not_wrapped(store):
    wd = store["wd"]
    uri = f"sqlite:///{wd / 'mlflow.db'}"
    assert any(line.startswith("MLflow run ") and line.endswith(f"(browse with: mlflow ui --backend-store-uri {uri})")
               for line in (wd / "train.log").read_text().splitlines())
    record = json.loads((wd / "train_run.json").read_text())
    assert record["status"] == "ok" and record["model"]["decision"] == "champion" and record["mlflow_run_id"]


@pytest.mark.slow
def test_the_train_record_times_each_step_and_states_the_explanation_cost(store):
    wd = store["wd"]
    record = json.loads((wd / "train_run.json").read_text())
    steps = {"snapshots", "tuning", "churn_fit", "loyalty_fit", "evaluation", "charts", "mlflow"}
    assert steps <= set(record["timings"]) and all(record["timings"][s] >= 0 for s in steps)
    cost = record["model"]["explanation_cost"]
    assert 1 <= cost["trees"] <= 60 and cost["leaves"] >= cost["trees"] and cost["rows_per_s"] > 0
    log = (wd / "train.log").read_text()
    assert f"explanation cost: {cost['trees']} trees, {cost['leaves']:,} leaves" in log
    assert "training time:" in log and "evaluation" in log


@pytest.mark.slow
def test_the_registry_model_name_is_what_score_loads(store):
    res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", "other.parquet", "--set",
                "registry.model_name=other-model", cwd=store["wd"])
    assert res.returncode == 4 and "no model is registered as other-model@champion" in clean(res)


@pytest.mark.parametrize("value", ["true", "false", "yes"])
@pytest.mark.slow
def test_promote_takes_a_value_too(store, value):
    res = churn("train", "--data", "no-such-folder", "--as-of", AS_OF, "--promote", value, cwd=store["wd"])
    assert res.returncode == 3 and "data folder no-such-folder does not exist" in clean(res)  # parsed, not exit 2


@pytest.mark.slow
def test_a_tracking_uri_that_points_nowhere_is_a_clear_error_and_creates_nothing(store, tmp_path):
    missing = tmp_path / "no" / "such" / "folder"
    res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", str(tmp_path / "r.parquet"), cwd=store["wd"],
                uri=f"sqlite:///{missing / 'mlflow.db'}")
    message = clean(res)
    assert res.returncode == 5 and f"the folder {missing} does not exist" in message
    assert not (tmp_path / "no").exists()


def test_the_engine_running_out_of_memory_mid_run_names_the_setting_and_the_fix(tmp_path):
    """A limit the load check lets through (its minimum lowered here, as a machine with many threads would need
    more) that the data outgrows: DuckDB's out-of-memory error becomes a message naming engine.memory_limit, exit 2,
    and the run record says so."""
    script = ("import pipeline.core.config as c; c.MIN_ENGINE_MEMORY_BYTES = 0; "
              "from pipeline.cli import app; app(prog_name='churn')")
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run([sys.executable, "-c", script, "features", "--data", str(ROOT / "data" / "sample"),
                          "--as-of", "data-end", "--out", str(tmp_path / "features.parquet"), "--set",
                          "engine.memory_limit=30MB", "--set", f"validation.quarantine_dir={tmp_path / 'q'}",
                          "--params", str(ROOT / "params.yaml"),
                          "--run-record", str(tmp_path / "run.json")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    said = clean(res)
    assert res.returncode == 2, said[-2000:]
    assert re.search(r"error: the engine ran out of memory under engine.memory_limit \(OutOfMemoryException: .*\)"
                     r".*Fix: raise it \(--set engine.memory_limit=4GB", said), said[-2000:]
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["exit_code"] == 2 and "engine.memory_limit" in record["error"]
    assert not (tmp_path / "features.parquet").exists()
