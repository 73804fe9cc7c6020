"""Input folders at a URI (``s3a://``, ``hdfs://``, ``abfss://``, ``gs://``, ``file:``...) for the Spark engine, read
through the Hadoop FileSystem of the session's JVM: the one Spark's own readers use, with its schemes, its jars and the
``spark.hadoop.*`` settings of ``engine.spark.conf``.

How it works, and why: docs/spark.md, section "pipeline/engine/spark/fs.py".
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Iterator
from contextlib import contextmanager
from posixpath import basename, splitext
from urllib.parse import urlsplit

from pipeline.core.config import EngineConfig
from pipeline.core.errors import DataError

CHUNK = 1 << 20  # bytes a read through the JVM asks for at most (they cross the Py4J gateway in one message)
# (connector jar, its settings) of the schemes Hadoop knows but Spark's distribution lacks the jar of
CONNECTORS = {
    "s3a": ("the hadoop-aws jar of Spark's Hadoop version {hadoop} with the AWS SDK bundle it names (engine.spark.conf: "
            "spark.jars.packages: org.apache.hadoop:hadoop-aws:{hadoop})",
            "spark.hadoop.fs.s3a.* settings (credentials provider or keys, endpoint)"),
    "gs": ("the Cloud Storage connector jar for Hadoop 3 (gcs-connector, in spark.jars or spark.jars.packages of "
           "engine.spark.conf)", "spark.hadoop.fs.gs.* settings (project, service account)"),
    "abfs": ("the hadoop-azure jar of Spark's Hadoop version {hadoop} (engine.spark.conf: spark.jars.packages: "
             "org.apache.hadoop:hadoop-azure:{hadoop})", "spark.hadoop.fs.azure.* settings (the account's key or OAuth)"),
}
CONNECTORS.update(abfss=CONNECTORS["abfs"], wasb=CONNECTORS["abfs"], wasbs=CONNECTORS["abfs"])


def hadoop_folder(engine: EngineConfig, uri: str) -> HadoopPath:
    """The data folder ``uri`` read through the Hadoop FileSystem of ``engine``'s Spark session (started if none is)."""
    from pipeline.engine.spark.dataset import spark_session

    return HadoopPath.of(spark_session(engine), uri)


class HadoopPath:
    """A file or folder at a URI, read through a Hadoop FileSystem: the subset of ``pathlib.Path`` that reading a data
    folder uses. Whether it is a file, a folder or missing is asked once and kept (a listing tells it for free), as
    each question is a request to the store. Its text is the URI as given, its entries' the folder's URI + "/" + name.

    Every failure of the file system is a ``DataError`` naming the URI and the fix."""

    __slots__ = ("uri", "_fs", "_jvm", "_kind")

    def __init__(self, uri: str, fs, jvm, kind: str | None = None):
        self.uri = uri
        self._fs = fs
        self._jvm = jvm
        self._kind = kind  # "dir", "file", "missing", or None until asked

    @classmethod
    def of(cls, spark, uri: str) -> HadoopPath:
        """``uri`` on the FileSystem its scheme names in ``spark``'s Hadoop configuration."""
        jvm = spark._jvm
        with _failing_as_data_error(uri):
            fs = jvm.org.apache.hadoop.fs.Path(uri).getFileSystem(spark._jsc.hadoopConfiguration())
        return cls(uri, fs, jvm)

    # -- names -------------------------------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"HadoopPath({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HadoopPath) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __lt__(self, other: HadoopPath) -> bool:
        return self.uri < other.uri

    @property
    def name(self) -> str:
        return basename(urlsplit(self.uri).path.rstrip("/"))

    @property
    def suffix(self) -> str:
        return splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return splitext(self.name)[0]

    def __truediv__(self, name: str) -> HadoopPath:
        return HadoopPath(self.uri.rstrip("/") + "/" + name, self._fs, self._jvm)

    def absolute(self) -> HadoopPath:
        return self  # a URI names one place whatever the driver's folder

    # -- what it is --------------------------------------------------------------------------------------------------
    def _path(self, uri: str | None = None):
        return self._jvm.org.apache.hadoop.fs.Path(uri or self.uri)

    def _status(self) -> str:
        if self._kind is None:
            with _failing_as_data_error(self.uri):
                try:
                    self._kind = "dir" if self._fs.getFileStatus(self._path()).isDirectory() else "file"
                except Exception as exc:
                    if "FileNotFoundException" not in _java_failure(exc)[0]:
                        raise
                    self._kind = "missing"
        return self._kind

    def exists(self) -> bool:
        return self._status() != "missing"

    def is_dir(self) -> bool:
        return self._status() == "dir"

    def is_file(self) -> bool:
        return self._status() == "file"

    # -- listing -----------------------------------------------------------------------------------------------------
    def iterdir(self) -> Iterator[HadoopPath]:
        with _failing_as_data_error(self.uri):
            statuses = list(self._fs.listStatus(self._path()))
            entries = [(status.getPath().getName(), status.isDirectory()) for status in statuses]
        for name, is_dir in entries:
            yield HadoopPath(self.uri.rstrip("/") + "/" + name, self._fs, self._jvm, "dir" if is_dir else "file")

    def rglob(self, pattern: str) -> Iterator[HadoopPath]:
        """The files below this folder, at any depth, whose names match ``pattern`` (listed lazily: ``any`` stops
        at the first)."""
        with _failing_as_data_error(self.uri):
            found = self._fs.listFiles(self._path(), True)
            while found.hasNext():
                path = found.next().getPath()
                if fnmatch.fnmatch(path.getName(), pattern):
                    yield HadoopPath(str(path.toString()), self._fs, self._jvm, "file")

    # -- reading -----------------------------------------------------------------------------------------------------
    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None, errors: str | None = None,
             newline: str | None = None):
        """The file for reading, as ``pathlib.Path.open`` gives it: bytes (``"rb"``) or text, streamed from the store."""
        if set(mode) - set("rbt"):
            raise ValueError(f"{self.uri}: inputs are only read (mode {mode!r})")
        with _failing_as_data_error(self.uri):
            stream = self._fs.open(self._path())
        raw = io.BufferedReader(_JavaStream(stream, self.uri), buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)
        return raw if "b" in mode else io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)

    def read_bytes(self) -> bytes:
        with self.open("rb", buffering=CHUNK) as fh:
            return fh.read()


class _JavaStream(io.RawIOBase):
    """A Hadoop input stream (``FSDataInputStream``) as a Python raw stream, read in pieces of at most ``CHUNK``."""

    def __init__(self, stream, uri: str):
        self._stream = stream
        self._uri = uri

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with _failing_as_data_error(self._uri):
            data = bytes(self._stream.readNBytes(min(len(buffer), CHUNK)))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
            finally:
                super().close()


# -- failures --------------------------------------------------------------------------------------------------------

def _java_failure(exc: BaseException) -> tuple[str, str]:
    """The Java exception behind ``exc`` (Py4J's, or PySpark's conversion of it): its class and its causes' names, and
    their messages, each joined with " / "; ("", "") when ``exc`` does not come from the JVM."""
    origin = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    names, messages = [], []
    while origin is not None and len(names) < 5:
        names.append(str(origin.getClass().getName()))
        if origin.getMessage():
            messages.append(str(origin.getMessage()).strip().split("\n")[0])
        origin = origin.getCause()
    return " / ".join(names), " / ".join(messages)


@contextmanager
def _failing_as_data_error(uri: str):
    try:
        yield
    except DataError:
        raise
    except Exception as exc:
        names, message = _java_failure(exc)
        if not names:
            raise
        raise storage_error(uri, names, message, _hadoop_version()) from None


def _hadoop_version() -> str:
    try:
        from pyspark import SparkContext

        return str(SparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion())
    except Exception:
        return "<Spark's Hadoop version>"


def storage_error(uri: str, names: str, message: str, hadoop: str = "<Spark's Hadoop version>") -> DataError:
    """The error for a Java failure (its exception classes ``names`` and their ``message``) reading ``uri``: a scheme
    with no file system, permission denied, an unreachable store, or another failure; each with its fix."""
    scheme = urlsplit(uri).scheme.lower()
    said = (message or names)[:300]
    if "No FileSystem for scheme" in message or ("ClassNotFoundException" in names + message
                                                  and "FileSystem" in message):
        if scheme in ("s3", "s3n"):
            fix = (f"on Amazon EMR {scheme}:// is read as it is; elsewhere write s3a://, Hadoop's S3 connector, with "
                   + CONNECTORS["s3a"][0].format(hadoop=hadoop) + " and " + CONNECTORS["s3a"][1])
        elif scheme in CONNECTORS:
            jar, settings = CONNECTORS[scheme]
            fix = f"put {jar.format(hadoop=hadoop)} on Spark's classpath, and give {settings} in engine.spark.conf"
        else:
            fix = (f"check the scheme's spelling; a store Hadoop does not know needs a jar with a FileSystem for "
                   f"{scheme}:// on Spark's classpath (spark.jars or spark.jars.packages in engine.spark.conf) and "
                   f"spark.hadoop.fs.{scheme}.impl naming its class")
        return DataError(f"{uri}: Spark has no file system for {scheme}:// ({said}). Fix: {fix}. Or copy the data to a "
                         "local folder and pass that")
    if any(word in names + message for word in ("AccessControlException", "AccessDeniedException", "Permission denied",
                                                 "Forbidden", "AuthorizationPermissionMismatch", "AuthorizationFailure")):
        return DataError(f"{uri}: permission denied ({said}). Fix: give the user Spark runs as read access to it, or "
                         f"credentials that have it (spark.hadoop.fs.{scheme}.* settings in engine.spark.conf)")
    if any(word in names for word in ("UnknownHostException", "ConnectException", "NoRouteToHostException")):
        return DataError(f"{uri}: the store cannot be reached ({said}). Fix: check the host and port in the URI (or "
                         "spark.hadoop.fs.defaultFS), and that this machine can reach it")
    return DataError(f"{uri}: cannot be read through Spark's Hadoop file system ({said}). Fix: check the path, and "
                     f"the store's settings (spark.hadoop.* in engine.spark.conf)")
