"""Message rendering with sandboxed Jinja2: email (subject, HTML, text) and SMS with segment counting.

Templates run in a :class:`jinja2.sandbox.SandboxedEnvironment` (no attribute access to internals, no
imports) with limits: ranges up to Jinja's ``MAX_RANGE``, powers with small exponents and results, repeated
strings and lists up to :data:`MAX_OUTPUT` characters, and rendered output up to :data:`MAX_OUTPUT`; any
failure, of any kind, is a :class:`TemplateProblem` for that one campaign. HTML output is autoescaped.
Every email gets a footer with a visible unsubscribe link and the
shop's postal address; every marketing SMS ends with an opt-out instruction — campaigns cannot forget them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any, Protocol

from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

SMS_OPT_OUT = "Reply STOP to opt out."

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


MAX_OUTPUT = 100_000  # characters of one rendered template, and of any string or list it builds
MAX_EXPONENT = 64
MAX_POWER_BITS = 256


class _Texts(Protocol):
    @property
    def subject(self) -> str | None: ...
    @property
    def html(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def sms(self) -> str | None: ...


class _Offer(Protocol):
    def model_dump(self) -> dict[str, Any]: ...


class TemplatedCampaign(Protocol):
    """What rendering reads of a campaign (:class:`storeflow.campaigns.definitions.Campaign` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def channels(self) -> Sequence[str]: ...
    @property
    def templates(self) -> _Texts: ...
    @property
    def offer(self) -> _Offer: ...
    @property
    def max_sms_segments(self) -> int: ...


class TemplateProblem(ValueError):
    """A template that does not compile or render."""


class _LimitedSandbox(SandboxedEnvironment):
    """The sandbox with arithmetic that cannot hang the worker or exhaust its memory."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError("power result too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > MAX_OUTPUT:
                    raise SecurityError(f"repetition longer than {MAX_OUTPUT}")
        return super().call_binop(context, operator, left, right)


def sms_segments(body: str) -> tuple[int, str]:
    """SMS segments and encoding for ``body``: GSM-7 160/153 septets, else UCS-2 70/67 UTF-16 units."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        septets = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(body.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def _money(minor: Any, currency: str = "GBP") -> str:
    try:
        value = int(minor) / 100
    except (TypeError, ValueError):
        return ""
    symbol = {"GBP": "£", "EUR": "€", "USD": "$"}.get(currency, currency + " ")
    return f"{symbol}{value:,.2f}"


def _env(autoescape: bool, strict: bool) -> SandboxedEnvironment:
    env = _LimitedSandbox(
        autoescape=autoescape, undefined=StrictUndefined if strict else ChainableUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["money"] = _money
    return env


_ENVS = {(a, s): _env(a, s) for a in (True, False) for s in (True, False)}


@lru_cache(maxsize=512)
def _compile(source: str, html: bool, strict: bool) -> Template:
    try:
        return _ENVS[(html, strict)].from_string(source)
    except (TemplateError, RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise TemplateProblem(f"template does not compile: {exc}"[:500]) from exc


def render(source: str, context: dict[str, Any], *, html: bool = False, strict: bool = False) -> str:
    """Render one template string in the sandbox, at most :data:`MAX_OUTPUT` characters."""
    template = _compile(source, html, strict)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(f"template output longer than {MAX_OUTPUT} characters")
            parts.append(chunk)
    except TemplateProblem:
        raise
    except Exception as exc:  # any failure inside a campaign's template is that campaign's problem
        raise TemplateProblem(f"template does not render: {type(exc).__name__}: {exc}"[:500]) from exc
    return "".join(parts)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def render_email(campaign: TemplatedCampaign, context: dict[str, Any], *, strict: bool = False) -> RenderedEmail:
    """Subject, HTML and text for one customer, with the unsubscribe + postal-address footer appended."""
    t = campaign.templates
    subject = " ".join(render(t.subject or "", context, strict=strict).split())
    html = render(t.html or "", context, html=True, strict=strict)
    text = render(t.text or "", context, strict=strict)
    shop = context.get("shop", {})
    url = str(context.get("unsubscribe_url", ""))
    html_footer = (
        '<hr><p style="font-size:12px;color:#666">'
        f'<a href="{escape(url, quote=True)}">Unsubscribe</a> from these emails.<br>'
        f"{escape(str(shop.get('name', '')))} · {escape(str(shop.get('postal_address', '')))}</p>"
    )
    html = html.replace("</body>", html_footer + "</body>") if "</body>" in html else html + html_footer
    text = f"{text.rstrip()}\n\n--\nUnsubscribe: {url}\n{shop.get('name', '')}, {shop.get('postal_address', '')}\n"
    return RenderedEmail(subject=subject, html=html, text=text)


def render_sms(campaign: TemplatedCampaign, context: dict[str, Any], *, strict: bool = False) -> tuple[str, int, str]:
    """SMS body (with opt-out instruction for marketing), its segment count and encoding."""
    body = " ".join(render(campaign.templates.sms or "", context, strict=strict).split())
    if campaign.kind == "marketing" and "STOP" not in body.upper():
        body = f"{body} {SMS_OPT_OUT}"
    segments, encoding = sms_segments(body)
    return body, segments, encoding


def sample_context(campaign: TemplatedCampaign) -> dict[str, Any]:
    """A complete context used to validate templates (every documented variable present)."""
    return {
        "customer": {"customer_id": "C0001", "given_name": "Alexandra", "family_name": "Montgomery-Smith",
                     "email": "alexandra@example.org", "phone": "+447700900001"},
        "shop": {"name": "Storeflow Demo Shop", "postal_address": "1 High Street, Exampleton EX1 2MP"},
        "campaign": {"id": campaign.id, "name": campaign.name or campaign.id, "topic": campaign.topic},
        "offer": campaign.offer.model_dump(),
        "product": {"sku": "SKU-000123", "name": "Extra Virgin Olive Oil 500 ml", "category": "Pantry",
                    "price_minor": 1299, "old_price_minor": 1599, "currency": "GBP"},
        "trigger": {"runout_date": "2026-01-31", "order_id": "1001", "event": "back_in_stock"},
        "recommendation": {"category": "Pantry"},
        "unsubscribe_url": "https://shop.example/u/TOKEN",
    }


def check_templates(campaign: TemplatedCampaign) -> None:
    """Compile and render every template against :func:`sample_context`; check the SMS length."""
    ctx = sample_context(campaign)
    if "email" in campaign.channels:
        for name in ("subject", "html", "text"):
            try:
                render(getattr(campaign.templates, name) or "", ctx, html=name == "html", strict=True)
            except TemplateProblem as exc:
                raise TemplateProblem(f"{name}: {exc}") from exc
    if "sms" in campaign.channels:
        try:
            _body, segments, encoding = render_sms(campaign, ctx, strict=True)
        except TemplateProblem as exc:
            raise TemplateProblem(f"sms: {exc}") from exc
        if segments > campaign.max_sms_segments:
            raise TemplateProblem(
                f"sms renders to {segments} {encoding} segments with sample data "
                f"(max_sms_segments={campaign.max_sms_segments})"
            )
