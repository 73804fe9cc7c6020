"""A ``--data`` URI (``s3a://``, ``file:``...) is read by the Spark engine only; the single-machine engine says so
and how to go on, without starting Spark. The failures of Hadoop's file systems become errors naming the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.core.errors import DataError
from pipeline.data.sources import discover_tables, is_uri
from pipeline.engine.spark.fs import storage_error
from tests.e2e.in_process import ROOT, churn


@pytest.mark.parametrize(("data", "uri"), [
    ("s3a://bucket/churn/", True), ("hdfs:///user/churn", True), ("abfss://c@acct.dfs.core.windows.net/x", True),
    ("gs://bucket/x", True), ("file:///data/churn", True), ("file:/data/churn", True), ("file:data", True),
    (Path("s3a://bucket/churn"), True),  # a Path made of a URI (one slash left) still counts
    ("data", False), ("/data/churn", False), ("./s3a/x", False), ("C:/data", False), (Path("data"), False),
])
def test_a_uri_is_told_from_a_local_path(data, uri):
    assert is_uri(data) is uri


def test_the_single_machine_engine_with_a_uri_is_a_clear_error():
    res = churn("validate", "--data", "s3a://bucket/churn/", "--params", str(ROOT / "params.yaml"), "--engine", "duckdb")
    assert res.exit_code == DataError.exit_code
    assert "--data s3a://bucket/churn/ is a URI: the single-machine engine (engine.kind: duckdb) reads local" in res.output
    assert "run with --engine spark" in res.output and "copy the data to a local folder" in res.output
    assert "Traceback" not in res.output


def test_a_file_uri_is_offered_as_a_local_path(tmp_path):
    with pytest.raises(DataError, match=f"pass it as the local path {tmp_path}, or run with --engine spark"):
        discover_tables(f"file://{tmp_path}")


@pytest.mark.parametrize(("names", "message", "says"), [
    ("org.apache.hadoop.fs.UnsupportedFileSystemException", 'No FileSystem for scheme "xyz"',
     "no file system for xyz:// .*check the scheme's spelling.*spark.hadoop.fs.xyz.impl"),
    ("java.lang.RuntimeException / java.lang.ClassNotFoundException",
     "java.lang.ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found",
     "hadoop-aws jar of Spark's Hadoop version 3.5.0.*hadoop-aws:3.5.0.*spark.hadoop.fs.s3a"),
    ("org.apache.hadoop.fs.UnsupportedFileSystemException", 'No FileSystem for scheme "s3"',
     "on Amazon EMR s3:// is read as it is; elsewhere write s3a://"),
    ("java.nio.file.AccessDeniedException", "s3a://bucket/churn: getFileStatus on s3a://bucket/churn: 403",
     "permission denied .*Fix: give the user Spark runs as read access"),
    ("org.apache.hadoop.security.AccessControlException", "Permission denied: user=etl, access=READ_EXECUTE",
     "permission denied"),
    ("java.net.ConnectException", "Call From host to namenode:8020 failed on connection exception",
     "the store cannot be reached .*check the host and port"),
    ("java.io.IOException", "something else", "cannot be read through Spark's Hadoop file system"),
])
def test_file_system_failures_name_the_fix(names, message, says):
    scheme = "xyz" if "xyz" in message else "s3" if '"s3"' in message else "s3a"
    error = storage_error(f"{scheme}://bucket/churn", names, message, "3.5.0")
    assert isinstance(error, DataError)
    assert str(error).startswith(f"{scheme}://bucket/churn: ")
    assert re.search(says, str(error)), str(error)
