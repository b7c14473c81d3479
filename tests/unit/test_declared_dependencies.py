"""pyproject.toml's declared ranges and the pinned install (requirements*.txt) describe the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins(*files: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                package, version = line.split("==", 1)
                pins[canonicalize_name(re.sub(r"\[.*\]", "", package))] = version.strip()
    return pins


def _declared() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(r) for r in reqs] for group, reqs in groups.items()}


def test_every_declared_range_admits_its_pin():
    pins = _pins("requirements.txt", "requirements-dev.txt", "constraints.txt")
    wrong = [
        f"{req} vs =={pins.get(canonicalize_name(req.name))}"
        for reqs in _declared().values()
        for req in reqs
        if req.name != "storeflow"
        and not req.specifier.contains(pins.get(canonicalize_name(req.name), "0"), prereleases=True)
    ]
    assert wrong == []


def test_every_pinned_requirement_is_declared():
    declared = {canonicalize_name(r.name) for reqs in _declared().values() for r in reqs}
    assert sorted(set(_pins("requirements.txt", "requirements-dev.txt")) - declared) == []


def test_runtime_does_not_depend_on_airflow_or_the_simulators_extras():
    runtime = {canonicalize_name(r.name) for r in _declared()["runtime"]}
    assert not {n for n in runtime if n.startswith("apache-airflow")}
    assert not runtime & {"aiosmtpd", "openapi-schema-validator", "jsonschema-rs", "celery", "redis"}
