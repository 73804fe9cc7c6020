"""Spark's prerequisites are checked with a clear message: Java 17 or newer, and the engine setting itself."""

from __future__ import annotations

import stat

import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError
from pipeline.engine.spark.dataset import check_java, java_major


def fake_java(tmp_path, said: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho '{said}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return tmp_path


@pytest.mark.parametrize(("said", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17), ('openjdk version "21" 2023-09-19', 21),
    ('java version "1.8.0_402"', 8), ('openjdk version "11.0.2" 2019-01-15', 11)])
def test_java_version_is_read_from_java_home(tmp_path, monkeypatch, said, major):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, said)))
    assert java_major() == major


def test_old_or_missing_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'java version "1.8.0_402"')))
    with pytest.raises(ConfigError, match="needs Java 17 or newer; the java found is version 8"):
        check_java()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="no java was found"):
        check_java()


def test_the_engine_setting_is_checked():
    assert load_params(None, ["engine.kind=spark"]).engine.kind == "spark"
    with pytest.raises(ConfigError, match="engine.kind"):
        load_params(None, ["engine.kind=flink"])
    with pytest.raises(ConfigError, match="engine.spark.shard_rows"):
        load_params(None, ["engine.spark.shard_rows=0"])
    conf = load_params(None, ["engine.spark.conf={spark.executor.memory: 8g, spark.sql.shuffle.partitions: 400}"])
    assert conf.engine.spark.conf == {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": 400}
