"""Landing zone: local folder and S3 (moto server over real HTTP)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from storeflow.landing import LandingZone, sanitise_run_id
from storeflow.settings import get_settings

RUN = "manual__2026-03-04T23:30:00.123456+00:00"
# 00:30 on 5 March in UTC+2 is still 4 March in UTC: the folder must follow the UTC date
LOGICAL = datetime(2026, 3, 5, 0, 30, tzinfo=timezone(timedelta(hours=2)))


def _records(page: int, n: int = 3) -> list[dict]:
    return [{"id": f"{page}-{i}", "page": page, "email": f"c{i}@example.com"} for i in range(n)]


def _local_zone() -> LandingZone:
    return LandingZone.from_settings()


def test_default_zone_is_data_dir_landing():
    zone = _local_zone()
    uri = zone.write_page("store_orders", RUN, 0, _records(0), LOGICAL)
    expected = (get_settings().data_dir / "landing").resolve()
    assert uri.startswith(expected.as_uri() + "/")
    assert not zone.is_s3


def test_key_layout_utc_date_and_sanitised_run_id():
    zone = _local_zone()
    uri = zone.write_page("store_orders", RUN, 7, _records(7), LOGICAL)
    safe = sanitise_run_id(RUN)
    assert ":" not in safe and "+" not in safe
    assert uri.endswith(f"/store_orders/2026/03/04/{safe}/page-00007.jsonl.gz")
    path = Path(uri.removeprefix("file://"))
    assert path.is_file()
    # really gzip JSON lines, one record per line
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == _records(7)


def test_datetimes_and_decimals_serialised():
    zone = _local_zone()
    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    zone.write_page("pos_orders", "r1", 0, [{"at": ts, "qty": Decimal("1.50"), "tags": ("a",)}], LOGICAL)
    ((_, records),) = list(zone.iter_pages("pos_orders", "r1"))
    assert records == [{"at": "2026-01-02T03:04:05+00:00", "qty": "1.50", "tags": ["a"]}]


def test_replay_in_page_order_and_only_that_run():
    zone = _local_zone()
    for page in (2, 0, 10, 1, 123456):
        zone.write_page("store_orders", RUN, page, _records(page), LOGICAL)
    zone.write_page("store_orders", "other_run", 0, _records(99), LOGICAL)
    zone.write_page("store_customers", RUN, 0, _records(98), LOGICAL)
    replay = list(zone.iter_pages("store_orders", RUN))
    assert [recs[0]["page"] for _, recs in replay] == [0, 1, 2, 10, 123456]
    assert all(recs == _records(recs[0]["page"]) for _, recs in replay)
    # the sanitised id (as list_runs returns it) works as well, with or without the date
    same = list(zone.iter_pages("store_orders", sanitise_run_id(RUN), logical_date=LOGICAL))
    assert same == replay
    assert list(zone.iter_pages("store_orders", RUN, logical_date=LOGICAL + timedelta(days=1))) == []
    assert list(zone.iter_pages("store_orders", "never_ran")) == []


def test_run_found_across_dates_when_no_date_given():
    zone = _local_zone()
    zone.write_page("s", "r", 1, _records(1), datetime(2026, 1, 2, tzinfo=UTC))
    zone.write_page("s", "r", 0, _records(0), datetime(2026, 1, 1, tzinfo=UTC))
    assert [recs[0]["page"] for _, recs in zone.iter_pages("s", "r")] == [0, 1]


def test_rewrite_same_page_overwrites_and_leaves_no_temp_files():
    zone = _local_zone()
    first = zone.write_page("s", RUN, 0, _records(0, 5), LOGICAL)
    second = zone.write_page("s", RUN, 0, _records(0, 2), LOGICAL)
    assert first == second
    assert [recs for _, recs in zone.iter_pages("s", RUN)] == [_records(0, 2)]
    folder = Path(first.removeprefix("file://")).parent
    assert sorted(p.name for p in folder.iterdir()) == ["page-00000.jsonl.gz"]
    # same records -> byte-identical page (gzip mtime fixed), so replays and checksums are stable
    before = Path(first.removeprefix("file://")).read_bytes()
    zone.write_page("s", RUN, 0, _records(0, 2), LOGICAL)
    assert Path(first.removeprefix("file://")).read_bytes() == before


def test_list_runs_and_streams():
    zone = _local_zone()
    assert zone.list_runs("store_orders") == []
    zone.write_page("store_orders", "b_run", 0, [], datetime(2026, 1, 2, tzinfo=UTC))
    zone.write_page("store_orders", "a_run", 0, [], datetime(2026, 1, 3, tzinfo=UTC))
    zone.write_page("store_orders", RUN, 0, [], datetime(2026, 1, 1, tzinfo=UTC))
    zone.write_page("store_orders", RUN, 1, [], datetime(2026, 1, 1, tzinfo=UTC))
    zone.write_page("pos_catalog", "x", 0, [], LOGICAL)
    zone.put_bytes("reports/x/index.html", b"<html></html>", "text/html")
    assert zone.list_runs("store_orders") == [sanitise_run_id(RUN), "b_run", "a_run"]
    assert zone.list_streams() == ["pos_catalog", "store_orders"]
    assert [recs for _, recs in zone.iter_pages("store_orders", RUN)] == [[], []]


def _erase(email: str):
    def fn(records: list[dict]) -> list[dict] | None:
        if not any(r.get("email") == email for r in records):
            return None
        return [dict(r, email="erased") if r.get("email") == email else r for r in records]

    return fn


def test_rewrite_pages_for_erasure():
    zone = _local_zone()
    zone.write_page("customers", "r1", 0, [{"id": 1, "email": "a@x.io"}, {"id": 2, "email": "b@x.io"}], LOGICAL)
    zone.write_page("customers", "r1", 1, [{"id": 3, "email": "c@x.io"}], LOGICAL)
    zone.write_page("customers", "r2", 0, [{"id": 1, "email": "a@x.io"}], LOGICAL + timedelta(days=1))
    untouched = zone.get_bytes("customers/2026/03/04/r1/page-00001.jsonl.gz")
    assert zone.rewrite_pages("customers", _erase("a@x.io")) == 2
    assert zone.rewrite_pages("customers", _erase("a@x.io")) == 0
    everything = [r for run in zone.list_runs("customers") for _, recs in zone.iter_pages("customers", run)
                  for r in recs]
    assert {r["email"] for r in everything} == {"erased", "b@x.io", "c@x.io"}
    assert zone.get_bytes("customers/2026/03/04/r1/page-00001.jsonl.gz") == untouched


def test_put_get_bytes_and_uri(tmp_path):
    zone = LandingZone.from_url(str(tmp_path / "zone"))
    uri = zone.put_bytes("reports/scoring/v1/index.html", b"<h1>hi</h1>", "text/html")
    assert uri == (tmp_path / "zone" / "reports/scoring/v1/index.html").as_uri()
    assert Path(uri.removeprefix("file://")).read_bytes() == b"<h1>hi</h1>"
    assert zone.get_bytes("reports/scoring/v1/index.html") == b"<h1>hi</h1>"
    assert zone.uri_for("reports/scoring/v1/index.html") == uri
    with pytest.raises(FileNotFoundError):
        zone.get_bytes("reports/none.html")
    assert LandingZone.from_url((tmp_path / "zone").as_uri()).get_bytes("reports/scoring/v1/index.html")
    docs = tmp_path / "docs"
    (docs / "static").mkdir(parents=True)
    (docs / "index.html").write_text("<p>docs</p>")
    (docs / "static" / "app.css").write_text("p{}")
    zone.put_dir(docs, "data_docs/run1")
    assert zone.list_keys("data_docs") == ["data_docs/run1/index.html", "data_docs/run1/static/app.css"]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_refused(key):
    with pytest.raises(ValueError):
        _local_zone().put_bytes(key, b"x", "text/plain")


def test_bad_inputs_refused():
    zone = _local_zone()
    with pytest.raises(ValueError, match="naive"):
        zone.write_page("s", "r", 0, [], datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        zone.write_page("../etc", "r", 0, [], LOGICAL)
    with pytest.raises(ValueError):
        zone.write_page("s", "..", 0, [], LOGICAL)
    with pytest.raises(ValueError):
        zone.write_page("s", "r", -1, [], LOGICAL)
    assert sanitise_run_id("a/b") == "a_b" == sanitise_run_id(sanitise_run_id("a/b"))


# --- S3 over real HTTP (moto server) -------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch, tmp_path):
    """Dummy credentials (test only) and a fresh bucket; the zone is configured through settings."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    bucket = f"landing-{tmp_path.name.lower().replace('_', '-')[-40:]}".rstrip("-")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("STOREFLOW_LANDING_URL", f"s3://{bucket}/raw")
    monkeypatch.setenv("STOREFLOW_S3_ENDPOINT_URL", moto_endpoint)
    get_settings.cache_clear()
    return client, bucket


def _objects(client, bucket: str) -> dict[str, dict]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o for page in pages for o in page.get("Contents", [])}


def test_s3_write_replay_and_objects_exist(s3_env):
    client, bucket = s3_env
    zone = LandingZone.from_settings()
    assert zone.is_s3
    for page in (1, 0, 2):
        uri = zone.write_page("store_orders", RUN, page, _records(page), LOGICAL)
    safe = sanitise_run_id(RUN)
    assert uri == f"s3://{bucket}/raw/store_orders/2026/03/04/{safe}/page-00002.jsonl.gz"
    zone.write_page("store_orders", "other", 0, _records(9), LOGICAL)
    objects = _objects(client, bucket)
    assert sorted(objects) == sorted(
        [f"raw/store_orders/2026/03/04/{safe}/page-0000{i}.jsonl.gz" for i in range(3)]
        + ["raw/store_orders/2026/03/04/other/page-00000.jsonl.gz"]
    )
    body = client.get_object(Bucket=bucket, Key=f"raw/store_orders/2026/03/04/{safe}/page-00001.jsonl.gz")
    assert body["ContentType"] == "application/x-ndjson"
    lines = gzip.decompress(body["Body"].read()).decode().splitlines()
    assert [json.loads(line) for line in lines] == _records(1)

    replay = list(zone.iter_pages("store_orders", RUN))
    assert [recs for _, recs in replay] == [_records(0), _records(1), _records(2)]
    assert replay[0][0] == f"s3://{bucket}/raw/store_orders/2026/03/04/{safe}/page-00000.jsonl.gz"
    assert zone.list_runs("store_orders") == sorted([safe, "other"])
    # idempotent overwrite: still one object per page
    zone.write_page("store_orders", RUN, 0, _records(0, 1), LOGICAL)
    assert len(_objects(client, bucket)) == 4
    assert next(zone.iter_pages("store_orders", RUN))[1] == _records(0, 1)


def test_s3_put_bytes_and_rewrite(s3_env):
    client, bucket = s3_env
    zone = LandingZone.from_settings()
    uri = zone.put_bytes("reports/scoring/v3/index.html", b"<h1>report</h1>", "text/html")
    assert uri == f"s3://{bucket}/raw/reports/scoring/v3/index.html"
    obj = client.get_object(Bucket=bucket, Key="raw/reports/scoring/v3/index.html")
    assert obj["Body"].read() == b"<h1>report</h1>"
    assert obj["ContentType"] == "text/html"
    assert zone.get_bytes("reports/scoring/v3/index.html") == b"<h1>report</h1>"
    with pytest.raises(FileNotFoundError):
        zone.get_bytes("reports/none.html")

    zone.write_page("customers", "r1", 0, [{"id": 1, "email": "a@x.io"}], LOGICAL)
    zone.write_page("customers", "r1", 1, [{"id": 2, "email": "b@x.io"}], LOGICAL)
    assert zone.rewrite_pages("customers", _erase("a@x.io")) == 1
    key = "raw/customers/2026/03/04/r1/page-00000.jsonl.gz"
    stored = gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
    assert json.loads(stored) == {"id": 1, "email": "erased"}
    assert zone.list_streams() == ["customers"]


def test_s3_explicit_session_and_url(s3_env, moto_endpoint):
    import boto3

    client, bucket = s3_env
    session = boto3.session.Session(aws_access_key_id="other", aws_secret_access_key="other",
                                    region_name="us-east-1")
    zone = LandingZone.from_url(f"s3://{bucket}", endpoint_url=moto_endpoint, session=session)
    assert zone.write_page("s", "r", 0, [{"a": 1}], LOGICAL) == f"s3://{bucket}/s/2026/03/04/r/page-00000.jsonl.gz"
    assert "s/2026/03/04/r/page-00000.jsonl.gz" in _objects(client, bucket)
