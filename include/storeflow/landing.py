"""Landing zone: raw API pages stored as gzip JSON lines before anything parses them.

Layout: ``{stream}/{YYYY}/{MM}/{DD}/{run_id}/page-{NNNNN}.jsonl.gz`` where the date is the run's logical
date in UTC and ``run_id`` is sanitised for paths and S3 keys (Airflow run ids contain ``:`` and ``+``).
Backends: a local folder (default ``$STOREFLOW_DATA_DIR/landing``; atomic writes through a temporary
file and rename) or S3 through boto3 when ``STOREFLOW_LANDING_URL`` is ``s3://bucket/prefix``.
S3 credentials come only from the standard AWS chain (env, config files, instance role) or an
explicitly passed boto3 session; they are never logged.

The same zone also stores reports and Data Docs (:meth:`LandingZone.put_bytes`).
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from storeflow.settings import Settings, get_settings

__all__ = ["LandingZone", "ObjectStore", "page_key", "sanitise_run_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_STREAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PAGE = re.compile(r"^page-(\d+)\.jsonl\.gz$")
PAGE_CONTENT_TYPE = "application/x-ndjson"


def sanitise_run_id(run_id: str) -> str:
    """Map a run id to a path/key segment: every character outside ``[A-Za-z0-9._-]`` becomes ``_``.

    Idempotent, so an id returned by :meth:`LandingZone.list_runs` can be passed back in.
    """
    safe = _UNSAFE.sub("_", run_id)
    if not safe or set(safe) <= {"."}:
        raise ValueError(f"unusable run id {run_id!r}")
    return safe


def _check_stream(stream: str) -> str:
    if not _STREAM.match(stream):
        raise ValueError(f"stream names use [A-Za-z0-9._-] and start with a letter or digit: {stream!r}")
    return stream


def _utc_day(logical_date: datetime) -> str:
    if logical_date.tzinfo is None:
        raise ValueError(f"naive logical date {logical_date!r}: pass an aware datetime")
    d = logical_date.astimezone(UTC)
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


def page_key(stream: str, run_id: str, page_no: int, logical_date: datetime) -> str:
    """The key (relative to the zone's root) of one landed page."""
    if page_no < 0:
        raise ValueError("page_no must be >= 0")
    return (
        f"{_check_stream(stream)}/{_utc_day(logical_date)}/{sanitise_run_id(run_id)}/page-{page_no:05d}.jsonl.gz"
    )


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid landing key {key!r}")
    return key


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_page(records: list[dict]) -> bytes:
    """Gzip JSON lines, byte-for-byte reproducible for the same records (gzip mtime fixed at 0)."""
    body = "".join(
        json.dumps(r, default=_json_default, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records
    )
    return gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)


def decode_page(data: bytes) -> list[dict]:
    """Inverse of :func:`encode_page`."""
    return [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip()]


class ObjectStore(Protocol):
    """What reports, Data Docs and the UI need from a landing zone (:class:`LandingZone` has it).

    Code that only stores or reads objects takes this, so tests can pass any small store.
    """

    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def uri_for(self, key: str) -> str: ...


@dataclass
class _LocalBackend:
    root: Path

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith("."):  # in-flight temporary files
                    continue
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


@dataclass
class _S3Backend:
    bucket: str
    prefix: str
    client: Any

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(self.uri(key)) from None

    def keys(self, prefix: str) -> Iterator[str]:
        full = self._full(prefix.rstrip("/") + "/") if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"


def _s3_client(endpoint_url: str | None, session: Any | None) -> Any:
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


@dataclass(frozen=True)
class LandedPage:
    """Where one page sits: its key, date folder, run segment and page number."""

    key: str
    day: str
    run: str
    page_no: int


class LandingZone:
    """Raw pages, reports and Data Docs in a local folder or an S3 prefix."""

    def __init__(self, backend: _LocalBackend | _S3Backend) -> None:
        self._backend = backend

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings | None = None, session: Any | None = None) -> LandingZone:
        """The configured zone: ``settings.landing_url`` if set, else the local ``settings.landing_dir``."""
        settings = settings or get_settings()
        if settings.landing_url:
            return cls.from_url(settings.landing_url, endpoint_url=settings.s3_endpoint_url, session=session)
        return cls(_LocalBackend(settings.landing_dir.resolve()))

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None, session: Any | None = None) -> LandingZone:
        """``s3://bucket/prefix`` (boto3; optional custom endpoint and session), ``file:///dir`` or a path."""
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"S3 landing URL lacks a bucket: {url!r}")
            return cls(_S3Backend(parsed.netloc, parsed.path.strip("/"), _s3_client(endpoint_url, session)))
        if parsed.scheme == "file":
            return cls(_LocalBackend(Path(parsed.path).resolve()))
        if parsed.scheme in ("", "local") or len(parsed.scheme) == 1:  # plain path (or Windows drive)
            return cls(_LocalBackend(Path(url.removeprefix("local://")).expanduser().resolve()))
        raise ValueError(f"unsupported landing URL scheme {parsed.scheme!r}")

    @property
    def is_s3(self) -> bool:
        """True when the zone lives in S3."""
        return isinstance(self._backend, _S3Backend)

    # --- raw pages ------------------------------------------------------------------------------
    def write_page(
        self, stream: str, run_id: str, page_no: int, records: list[dict], logical_date: datetime
    ) -> str:
        """Store one raw page; return its URI. Rewriting the same page replaces it (idempotent)."""
        key = page_key(stream, run_id, page_no, logical_date)
        self._backend.put(key, encode_page(records), PAGE_CONTENT_TYPE)
        return self._backend.uri(key)

    def _pages(self, stream: str, run_id: str | None = None, logical_date: datetime | None = None) -> list[LandedPage]:
        run = sanitise_run_id(run_id) if run_id is not None else None
        prefix = f"{_check_stream(stream)}/{_utc_day(logical_date)}" if logical_date else _check_stream(stream)
        found = []
        for key in self._backend.keys(prefix):
            parts = key.split("/")
            if len(parts) != 6 or parts[0] != stream:
                continue
            match = _PAGE.match(parts[5])
            if not match or (run is not None and parts[4] != run):
                continue
            found.append(LandedPage(key, "/".join(parts[1:4]), parts[4], int(match.group(1))))
        found.sort(key=lambda p: (p.day, p.run, p.page_no))
        return found

    def iter_pages(
        self, stream: str, run_id: str, logical_date: datetime | None = None
    ) -> Iterator[tuple[str, list[dict]]]:
        """Replay a past run: ``(uri, records)`` per page, in page order.

        Without ``logical_date`` every date folder of the stream is searched for the run.
        """
        for page in self._pages(stream, run_id, logical_date):
            yield self._backend.uri(page.key), decode_page(self._backend.get(page.key))

    def list_runs(self, stream: str) -> list[str]:
        """Sanitised run ids that landed pages for ``stream``, oldest logical date first."""
        seen: dict[str, None] = {}
        for page in self._pages(stream):
            seen.setdefault(page.run, None)
        return list(seen)

    def list_streams(self) -> list[str]:
        """Streams that have at least one landed page."""
        streams: dict[str, None] = {}
        for key in self._backend.keys(""):
            parts = key.split("/")
            if len(parts) == 6 and _PAGE.match(parts[5]) and _STREAM.match(parts[0]):
                streams.setdefault(parts[0], None)
        return sorted(streams)

    def rewrite_pages(
        self,
        stream: str,
        fn: Callable[[list[dict]], list[dict] | None],
        run_id: str | None = None,
    ) -> int:
        """Apply ``fn(records)`` to every page of ``stream`` (or of one run); return pages rewritten.

        ``fn`` returns the new records, or ``None`` when the page is unchanged. Changed pages are
        replaced atomically (rename locally, one PUT on S3). This is the hook for GDPR erasure:
        replace a customer's personal fields in the raw data.
        """
        rewritten = 0
        for page in self._pages(stream, run_id):
            new = fn(decode_page(self._backend.get(page.key)))
            if new is not None:
                self._backend.put(page.key, encode_page(new), PAGE_CONTENT_TYPE)
                rewritten += 1
        return rewritten

    # --- arbitrary objects (reports, Data Docs) --------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store ``data`` under ``key`` (e.g. ``reports/scoring/v1/index.html``); return a URI to open it."""
        self._backend.put(_check_key(key), data, content_type)
        return self._backend.uri(key)

    def get_bytes(self, key: str) -> bytes:
        """Read back what :meth:`put_bytes` stored; ``FileNotFoundError`` if absent (both backends)."""
        return self._backend.get(_check_key(key))

    def put_dir(self, local_dir: str | Path, prefix: str) -> str:
        """Copy a local folder (e.g. rendered Data Docs) under ``prefix``; return the URI of ``prefix``."""
        base = Path(local_dir)
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.put_bytes(f"{prefix.strip('/')}/{rel}", path.read_bytes(), ctype)
        return self.uri_for(prefix.strip("/"))

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (a folder-like prefix, no trailing slash needed)."""
        return list(self._backend.keys(_check_key(prefix.strip("/")) if prefix else ""))

    def uri_for(self, key: str) -> str:
        """The URI (``file://…`` or ``s3://bucket/key``) of ``key``."""
        return self._backend.uri(_check_key(key))

    def __repr__(self) -> str:
        b = self._backend
        root = f"s3://{b.bucket}/{b.prefix}" if isinstance(b, _S3Backend) else b.root.as_uri()
        return f"LandingZone({root})"
