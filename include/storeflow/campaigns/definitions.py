"""Campaign definitions: pydantic models and YAML loading with per-file, per-field errors.

A broken file never stops the other campaigns: :func:`load_campaigns` returns the valid campaigns and a
list of :class:`DefinitionError` (file, field, problem) for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storeflow.campaigns.rules import Rule, RuleError, parse_rule
from storeflow.campaigns.templates import TemplateProblem, check_templates
from storeflow.settings import Settings

Channel = Literal["email", "sms"]
CHANNELS: tuple[Channel, ...] = ("email", "sms")
_ID = r"^[a-z][a-z0-9_\-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmentTrigger(_Strict):
    """Daily audience over the current scores."""

    type: Literal["segment"] = "segment"


class ReplenishmentTrigger(_Strict):
    """Customers whose predicted run-out of a SKU falls within ``within_days`` and the SKU is in stock."""

    type: Literal["replenishment"]
    within_days: int = Field(7, ge=0, le=90)
    min_confidence: float = Field(0.0, ge=0, le=1)


class CatalogEventTrigger(_Strict):
    """Catalog changes (``back_in_stock`` / ``price_drop``) for customers with affinity to the category."""

    type: Literal["catalog_event"]
    event: Literal["back_in_stock", "price_drop"]
    min_affinity: float | None = Field(None, ge=0, le=1)
    min_drop_percent: float = Field(0.0, ge=0, le=100)


class PostPurchaseTrigger(_Strict):
    """Orders placed between ``min_days`` and ``max_days`` ago."""

    type: Literal["post_purchase"]
    min_days: int = Field(3, ge=0)
    max_days: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _window(self) -> PostPurchaseTrigger:
        if self.max_days < self.min_days:
            raise ValueError("max_days must be >= min_days")
        return self


Trigger = Annotated[
    SegmentTrigger | ReplenishmentTrigger | CatalogEventTrigger | PostPurchaseTrigger, Field(discriminator="type")
]


class Offer(_Strict):
    """What the message offers; a discount triggers the post-purchase cooldown."""

    type: Literal["none", "discount", "reward", "info"] = "none"
    percent: float | None = Field(None, gt=0, le=100)
    code: str | None = Field(None, max_length=64)
    description: str | None = None

    @property
    def is_discount(self) -> bool:
        return self.type == "discount"


class Templates(_Strict):
    """Jinja2 sources; email needs subject + html + text, SMS needs sms."""

    subject: str | None = None
    html: str | None = None
    text: str | None = None
    sms: str | None = None


class Campaign(_Strict):
    """One validated campaign definition."""

    id: str = Field(pattern=_ID)
    name: str | None = None
    kind: Literal["marketing", "transactional"] = "marketing"
    topic: str = Field("marketing", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    channels: list[Channel] = Field(min_length=1)
    trigger: Trigger = Field(default_factory=SegmentTrigger)
    audience: str = "true"
    offer: Offer = Field(default_factory=Offer)
    max_sms_segments: int = Field(3, ge=1, le=10)
    templates: Templates
    priority: int = Field(50, ge=0, le=1000)
    reeligibility_days: int | None = Field(None, ge=0, le=3650)
    holdout_share: float | None = Field(None, ge=0, le=0.5)
    enabled: bool = True

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value == "all":
            raise ValueError("'all' is a consent scope, not a campaign topic")
        return value

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        try:
            parse_rule(value)
        except RuleError as exc:
            raise ValueError(f"invalid rule: {exc}") from exc
        return value

    @field_validator("templates")
    @classmethod
    def _templates_for_channels(cls, value: Templates, info: ValidationInfo) -> Templates:
        channels = info.data.get("channels") or []
        missing = []
        if "email" in channels:
            missing += [k for k in ("subject", "html", "text") if not getattr(value, k)]
        if "sms" in channels and not value.sms:
            missing.append("sms")
        if missing:
            raise ValueError(f"missing {', '.join(missing)} for the campaign's channels")
        probe = SimpleNamespace(
            id=info.data.get("id", "campaign"), name=info.data.get("name"), topic=info.data.get("topic", "marketing"),
            kind=info.data.get("kind", "marketing"), channels=channels, templates=value,
            offer=info.data.get("offer") or Offer(), max_sms_segments=info.data.get("max_sms_segments", 3),
        )
        try:
            check_templates(probe)
        except TemplateProblem as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def rule(self) -> Rule:
        return parse_rule(self.audience)

    def effective_reeligibility_days(self, settings: Settings) -> int:
        return settings.reeligibility_days if self.reeligibility_days is None else self.reeligibility_days

    def effective_holdout_share(self, settings: Settings) -> float:
        if self.kind == "transactional":
            return 0.0
        return settings.campaign_holdout_share if self.holdout_share is None else self.holdout_share


@dataclass(frozen=True)
class DefinitionError:
    """Why one campaign file was rejected."""

    file: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.problem}"


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in {"segment", "replenishment",
                                                                       "catalog_event", "post_purchase"})]
    return ".".join(parts) or "(file)"


def parse_campaign(data: Any, file: str) -> tuple[Campaign | None, list[DefinitionError]]:
    """Validate one parsed YAML document."""
    if not isinstance(data, dict):
        return None, [DefinitionError(file, "(file)", "expected a mapping at the top level")]
    try:
        return Campaign.model_validate(data), []
    except ValidationError as exc:
        errors = [DefinitionError(file, _field_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        return None, errors


def load_campaigns(directory: Path) -> tuple[list[Campaign], list[DefinitionError]]:
    """Load every ``*.yaml``/``*.yml`` in ``directory``; invalid files are reported, not fatal."""
    campaigns: list[Campaign] = []
    errors: list[DefinitionError] = []
    seen: dict[str, str] = {}
    files = sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")])
    for path in files:
        name = path.name
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "(file)"
            errors.append(DefinitionError(name, where, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
            continue
        except OSError as exc:
            errors.append(DefinitionError(name, "(file)", f"unreadable: {exc}"))
            continue
        try:
            campaign, errs = parse_campaign(data, name)
        except Exception as exc:  # nothing in one file may stop the others from loading
            errors.append(DefinitionError(name, "(file)", f"cannot be loaded: {type(exc).__name__}: {exc}"[:500]))
            continue
        errors.extend(errs)
        if campaign is None:
            continue
        if campaign.id in seen:
            errors.append(DefinitionError(name, "id", f"duplicate id {campaign.id!r} (also in {seen[campaign.id]})"))
            continue
        seen[campaign.id] = name
        if campaign.enabled:
            campaigns.append(campaign)
    return campaigns, errors
