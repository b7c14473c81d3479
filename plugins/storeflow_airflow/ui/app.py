"""The FastAPI app behind storeflow's pages in the Airflow UI (mounted at ``/storeflow`` by the plugin).

Server-rendered HTML (Jinja2, autoescaped) over :mod:`storeflow.ui_data`. Every page needs an Airflow
user: the same JWT the Airflow UI uses (the ``_token`` cookie, or ``Authorization: Bearer``) is checked
by Airflow's own ``get_user`` and the auth manager must allow the ``WEBSITE`` view; a browser without a
session is sent to Airflow's login page. Airflow does not protect plugin apps by itself, so this check
is what keeps the pages private.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from storeflow_airflow.ui import URL_PREFIX

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).with_name("templates")


class LoginRequired(Exception):
    """No (valid) Airflow session on a page request."""


def _age(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",), default=True))
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.filters["urlpart"] = lambda v: quote(str(v), safe="")
    return env


class _Resources:
    """The warehouse engine and landing zone, from the same Airflow connections the tasks use
    (``storeflow_warehouse``, ``storeflow_landing``) or storeflow's settings; looked up again after
    :data:`REFRESH` so a connection edited in the UI takes effect without restarting the api-server."""

    REFRESH = timedelta(seconds=60)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Any = None
        self._url: Any = None
        self._landing: Any = None
        self._checked: dict[str, datetime] = {}

    def _due(self, kind: str) -> bool:
        now = datetime.now(UTC)
        if now - self._checked.get(kind, datetime.min.replace(tzinfo=UTC)) < self.REFRESH:
            return False
        self._checked[kind] = now
        return True

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None or self._due("warehouse"):
                from storeflow.warehouse.db import make_engine

                url = _connection_value("warehouse")
                if self._engine is None or url != self._url:
                    if self._engine is not None:
                        self._engine.dispose()
                    self._engine, self._url = make_engine(url), url
            return self._engine

    def landing(self) -> Any:
        with self._lock:
            if self._landing is None or self._due("landing"):
                self._landing = _connection_value("landing")
            return self._landing


def _server_connection(conn_id: str) -> Any | None:
    """An Airflow connection as the api-server sees it (secrets backends, env vars and the metadata DB).

    The Task SDK's ``BaseHook.get_connection`` (used by the tasks) skips the metadata DB outside a task or
    scheduler process, so connections created in the UI would be invisible here without this lookup.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


def _connection_value(kind: str) -> Any:
    """The warehouse URL (None = storeflow's default) or the landing zone, read like the tasks read them
    (:mod:`storeflow_airflow.connections`): ``storeflow_warehouse`` and ``storeflow_landing``, else settings."""
    from storeflow.landing import LandingZone

    conn = _server_connection("storeflow_warehouse" if kind == "warehouse" else "storeflow_landing")
    extra = (conn.extra_dejson or {}) if conn is not None else {}
    if kind == "warehouse":
        if conn is None:
            return None
        uri = extra.get("url") or conn.get_uri()
        return uri.replace("postgres://", "postgresql+psycopg://", 1).replace(
            "postgresql://", "postgresql+psycopg://", 1)
    if conn is None:
        return LandingZone.from_settings()
    session = None
    if conn.login:
        import boto3

        session = boto3.session.Session(aws_access_key_id=conn.login, aws_secret_access_key=conn.password,
                                         region_name=extra.get("region_name", "us-east-1"))
    return LandingZone.from_url(extra.get("url") or f"s3://{conn.host}", endpoint_url=extra.get("endpoint_url"),
                                session=session)


async def airflow_user(request: Request) -> Any:
    """The Airflow user of this request (Airflow's own JWT check); 403 without the WEBSITE view."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    try:
        user = await get_user(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        if exc.status_code in (401, 403) and request.method == "GET":
            raise LoginRequired() from None
        raise
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status_code=403, detail="Forbidden")
    return user


def create_app(resources: _Resources | None = None) -> FastAPI:
    """storeflow's page app; mount it under :data:`URL_PREFIX`."""
    app = FastAPI(title="storeflow pages", docs_url=None, redoc_url=None, openapi_url=None)
    res = resources or _Resources()
    env = _environment()

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> Response:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)

    def page(request: Request, template: str, **values: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/") or URL_PREFIX
        html = env.get_template(template).render(base=base, now=datetime.now(UTC), **values)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def unavailable(request: Request, title: str, exc: Exception) -> HTMLResponse:
        log.warning("storeflow page %s: %s", title, type(exc).__name__)
        return page(request, "unavailable.html", title=title, problem=type(exc).__name__)

    @app.get("/", include_in_schema=False)
    def index(request: Request, _user: Any = Depends(airflow_user)) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '').rstrip('/')}/health", status_code=303)

    @app.get("/health", response_class=HTMLResponse)
    def health(request: Request, _user: Any = Depends(airflow_user)) -> HTMLResponse:
        from sqlalchemy.exc import SQLAlchemyError

        from storeflow.ui_data import open_incidents, push_summary, sync_health

        try:
            engine = res.engine()
            streams, incidents, pushes = sync_health(engine), open_incidents(engine), push_summary(engine)
        except SQLAlchemyError as exc:
            return unavailable(request, "Sync health", exc)
        return page(request, "health.html", title="Sync health", streams=streams, incidents=incidents,
                    pushes=pushes)

    @app.get("/quarantine", response_class=HTMLResponse)
    def quarantine(request: Request, stream: str | None = None, rule: str | None = None,
                   run_id: str | None = None, status: str | None = Query(None, pattern="^(open|resolved)?$"),
                   offset: int = Query(0, ge=0), _user: Any = Depends(airflow_user)) -> HTMLResponse:
        from sqlalchemy.exc import SQLAlchemyError

        from storeflow.ui_data import quarantine_page

        limit = 100
        try:
            result = quarantine_page(res.engine(), stream=stream or None, rule=rule or None, run_id=run_id or None,
                                     status=status or None, limit=limit, offset=offset)
        except SQLAlchemyError as exc:
            return unavailable(request, "Quarantine", exc)
        filters = {"stream": stream or "", "rule": rule or "", "run_id": run_id or "", "status": status or ""}
        return page(request, "quarantine.html", title="Quarantine", result=result, filters=filters,
                    offset=offset, limit=limit)

    @app.get("/reports", response_class=HTMLResponse)
    def reports(request: Request, _user: Any = Depends(airflow_user)) -> HTMLResponse:
        from storeflow.ui_data import list_reports

        try:
            found = list_reports(res.landing())
        except Exception as exc:  # S3 unreachable, bucket missing…: say so instead of a 500
            return unavailable(request, "Reports", exc)
        return page(request, "reports.html", title="Reports", reports=found)

    @app.get("/reports/view/{key:path}")
    def view_report(key: str, _user: Any = Depends(airflow_user)) -> Response:
        from storeflow.ui_data import read_report

        try:
            data, ctype = read_report(res.landing(), key)
        except (FileNotFoundError, ValueError):
            raise HTTPException(status_code=404, detail="No such report") from None
        # reports render in an opaque origin: their scripts (GX Data Docs) cannot reach Airflow's session
        return Response(data, media_type=ctype, headers={
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox"})

    @app.get("/reports/latest/{kind}")
    def latest_report(request: Request, kind: str, _user: Any = Depends(airflow_user)) -> Response:
        from storeflow.ui_data import list_reports

        found = list_reports(res.landing())
        link = {"scoring": found.latest_scoring, "campaigns": found.latest_campaigns}.get(kind)
        if link is None:
            raise HTTPException(status_code=404, detail=f"No {kind} report yet")
        base = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{base}/reports/view/{link.key}", status_code=303)

    @app.get("/runs", response_class=HTMLResponse)
    def run(request: Request, run_id: str, dag_id: str | None = None,
            _user: Any = Depends(airflow_user)) -> HTMLResponse:
        from sqlalchemy.exc import SQLAlchemyError

        from storeflow.ui_data import run_view

        try:
            view = run_view(res.engine(), res.landing(), run_id, dag_id)
        except SQLAlchemyError as exc:
            return unavailable(request, "DAG run", exc)
        return page(request, "run.html", title=f"Run {run_id}", view=view)

    return app


app = create_app()
