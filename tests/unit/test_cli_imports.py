"""The command line loads the model stack only for the command that needs it: ``churn --help``, a usage error or
``churn validate`` answer without importing LightGBM, scikit-learn, MLflow, SHAP or matplotlib (3-4 s of imports per
process before each command imported its own body: docs/benchmarks.md)."""

import json
import subprocess
import sys

HEAVY = ("lightgbm", "sklearn", "mlflow", "shap", "matplotlib", "optuna")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return {m.split(".")[0] for m in json.loads(res.stdout.strip().splitlines()[-1])}


def test_the_command_line_loads_no_model_library_before_a_command_needs_it():
    assert loaded_after("import pipeline.cli") == set()


def test_the_data_commands_load_no_model_library():
    # what validate and features run (pipeline.build.run), imported as their commands import it
    assert loaded_after("import pipeline.cli\nfrom pipeline.build import run") == set()

