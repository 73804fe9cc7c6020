"""The security rule: no code runs because a model names it. A model folder anyone could hand over (its stored
problem naming a feature module, its own records of modules, a manifest consistent with all of it) makes
`churn score --model DIR` import nothing: scoring imports only the modules the user's settings name, and only
when their content is the content the model was trained with (exit 4 otherwise, before any import)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.bundle import ModelBundle, verify_bundle

pytestmark = pytest.mark.slow

PAYLOAD = "from pathlib import Path\nPath({marker!r}).write_text('code from a model ran')\n"


@pytest.fixture()
def crafted(trained, tmp_path):
    """A payload module, a data folder and a function making a model folder that names the payload."""
    marker = tmp_path / "ran.txt"
    payload = tmp_path / "elsewhere" / "evil.py"
    payload.parent.mkdir()
    payload.write_text(PAYLOAD.format(marker=str(marker)))
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in trained["tables"].items():
        frame.to_parquet(data / f"{name}.parquet", index=False)

    def model(records: bool = True) -> Path:
        bundle: ModelBundle = trained["result"].bundle
        problem = {**bundle.metadata["problem"]}
        problem["features"] = {**problem["features"], "extra_modules": [str(payload)]}
        metadata = {**bundle.metadata, "problem": problem}
        if records:
            metadata["extra_modules"] = [{"name": "evil.py",
                                          "sha256": hashlib.sha256(payload.read_bytes()).hexdigest()}]
        folder = dataclasses.replace(bundle, metadata=metadata).save(tmp_path / f"model_{records}")
        verify_bundle(folder)  # consistent: the manifest holds every file's hash
        return folder

    return {"marker": marker, "payload": payload, "data": data, "model": model, "tmp": tmp_path}


def _score(crafted, model: Path, params_text: str):
    from pipeline.cli import app

    params = crafted["tmp"] / "params.yaml"
    params.write_text(params_text)
    return CliRunner().invoke(app, ["score", "--data", str(crafted["data"]), "--as-of", "2025-12-31", "--model",
                                    str(model), "--params", str(params), "--out", str(crafted["tmp"] / "risk.parquet"),
                                    "--no-previous", "--no-effects", "--allow-stale"])


@pytest.mark.parametrize("records", [True, False], ids=["with-records", "saved-before-records"])
def test_a_crafted_model_folder_runs_nothing_when_the_settings_do_not_name_its_module(crafted, records):
    res = _score(crafted, crafted["model"](records), "seed: 42\n")
    assert res.exit_code == 4, res.output
    assert not crafted["marker"].exists()
    assert "no code is run because a model names it" in res.output if records else \
        "saved before models recorded their content" in res.output


def test_a_module_of_the_same_name_with_other_content_is_refused_before_it_is_imported(crafted):
    """The settings name a module of the model's name, whose content differs (edited since, or another file): the
    model's features would not mean what it learned. Nothing is imported, neither file."""
    mine = crafted["tmp"] / "mine" / "evil.py"
    mine.parent.mkdir()
    mine.write_text(crafted["payload"].read_text() + "# edited\n")
    res = _score(crafted, crafted["model"](), "features:\n  extra_modules: [mine/evil.py]\n")
    assert res.exit_code == 4, res.output
    assert "not the one the model was trained with" in " ".join(res.output.split())
    assert not crafted["marker"].exists()


def test_an_older_model_naming_a_module_is_refused_even_when_the_settings_name_it(crafted):
    res = _score(crafted, crafted["model"](records=False), f"features:\n  extra_modules: [{crafted['payload']}]\n")
    assert res.exit_code == 4, res.output
    assert not crafted["marker"].exists()
