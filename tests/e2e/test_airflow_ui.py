"""The Airflow UI lists every storeflow DAG: headless Chromium renders the DAG list page (issue 7, item 3).

Uses the session's real api-server and dag-processor (``airflow_ui`` in ``tests/e2e/conftest.py``: a
temporary, freshly migrated AIRFLOW_HOME on SQLite; no scheduler: the dag-processor alone writes the
parsed DAGs to the metadata DB), ready once the REST API lists every DAG defined in dags/*.py, then has
Debian's ``chromium`` render ``/dags``: the DOM it
dumps must link every DAG, and the screenshot (also copied to data/screenshots/dag-list.png) must be a
real, non-blank PNG. Needs ``/usr/bin/chromium`` (``scripts/install_chromium.sh``);
``STOREFLOW_SKIP_UI_TEST=1`` skips the test where no browser can be installed.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest

from scripts.airflow_env import ROOT
from tests.e2e.conftest import chromium, expected_dag_ids, png_stats

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

SCREENSHOT_COPY = ROOT / "data" / "screenshots" / "dag-list.png"


class DagLinks(HTMLParser):
    """Collects the text of the DAG-id links (``<a data-testid="dag-id" href="/dags/<id>">``) of the list."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("data-testid") == "dag-id":
            self._href, self._text = a.get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            text = "".join(self._text).strip()
            if self._href.rstrip("/").endswith(f"/dags/{text}"):
                self.ids.append(text)
            self._href = None


def test_expected_dag_ids_are_read_from_the_dag_files(tmp_path):
    (tmp_path / "a.py").write_text('with DAG(\n    dag_id="alpha",\n): TriggerDagRunOperator(trigger_dag_id="x")\n')
    (tmp_path / "b.py").write_text("@dag(dag_id='beta', schedule=None)\ndef f(): ...\n")
    assert expected_dag_ids(tmp_path) == {"alpha", "beta"}
    assert len(expected_dag_ids()) >= 10


def test_dag_list_page_shows_every_storeflow_dag(airflow_ui, tmp_path):
    expected = expected_dag_ids()
    listed = airflow_ui.listed
    assert expected <= listed

    # The UI keeps its table state in the URL: a page size above the DAG count shows them all at once.
    url = f"{airflow_ui.base}/dags?limit={max(50, len(listed) + 10)}&offset=0"
    shot = tmp_path / "dag-list.png"
    for attempt in range(3):  # a loaded machine can need a second render before the list is fetched
        dom_run = chromium(url, tmp_path / f"chromium-dom-{attempt}", "--dump-dom")
        rendered = DagLinks()
        rendered.feed(dom_run.stdout.decode("utf-8", errors="replace"))
        if expected <= set(rendered.ids):
            break
    shot_run = chromium(url, tmp_path / "chromium-shot", f"--screenshot={shot}")

    dom = dom_run.stdout.decode("utf-8", errors="replace")
    (tmp_path / "dag-list.html").write_text(dom, encoding="utf-8")
    links = DagLinks()
    links.feed(dom)
    missing = sorted(expected - set(links.ids))
    assert not missing, (f"the rendered DAG list lacks {missing}; it shows {sorted(links.ids)} "
                         f"(DOM: {tmp_path / 'dag-list.html'}, chromium: {dom_run.stderr.decode()[-1500:]})")
    assert re.search(rf"\b{len(listed)}\s+Dags\b", dom), "the page does not show the DAG count header"

    assert shot_run.returncode == 0 and shot.exists(), f"no screenshot: {shot_run.stderr.decode()[-1500:]}"
    width, height, distinct_rows = png_stats(shot)
    assert (width, height) == (1600, 2400)
    assert shot.stat().st_size > 20_000 and distinct_rows > 100, "the screenshot is (nearly) blank"
    SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
