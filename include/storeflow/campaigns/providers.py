"""The configured campaign senders: email via SMTP (default) or SES, SMS via the Twilio contract."""

from __future__ import annotations

import logging
from typing import Any

from storeflow.campaigns.senders import Sender
from storeflow.campaigns.senders_ses import SesEmailSender
from storeflow.campaigns.senders_sms import TwilioSmsSender
from storeflow.campaigns.senders_smtp import SmtpEmailSender
from storeflow.profile import MissingCredential
from storeflow.resources import Resources, SmsConfig, SmtpConfig

log = logging.getLogger(__name__)


def default_senders(settings: Any, smtp: SmtpConfig | None = None, sms: SmsConfig | None = None
                    ) -> dict[str, Sender | None]:
    """The configured senders: email via SMTP (default) or SES, SMS via the Twilio contract.

    ``smtp`` / ``sms`` come from the Airflow connections (the glue builds them); without them the
    ``STOREFLOW_*`` settings apply. A channel whose credentials are missing outside the demo profile gets
    ``None``: the dispatcher then keeps its messages planned and fails the run naming what to set.
    """
    email: Sender | None
    if getattr(settings, "email_sender", "smtp") == "ses":
        email = SesEmailSender.from_settings(settings)
    else:
        email = SmtpEmailSender.from_config(smtp or SmtpConfig.from_settings(settings), settings)
    try:
        text: Sender | None = TwilioSmsSender.from_config(sms or SmsConfig.from_settings(settings))
    except MissingCredential as exc:
        log.warning("SMS sender not configured: %s", exc)
        text = None
    return {"email": email, "sms": text}


def resource_senders(resources: Resources, settings: Any) -> dict[str, Sender | None]:
    """The senders of ``resources``' connections (``storeflow_smtp``, ``storeflow_sms``; settings as the
    fallback); a channel whose credentials are missing gets ``None`` (see :func:`default_senders`)."""
    try:
        sms: SmsConfig | None = resources.sms(settings)
    except MissingCredential:
        sms = None
    return default_senders(settings, smtp=resources.smtp(settings), sms=sms)
