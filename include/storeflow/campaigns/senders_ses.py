"""Email through Amazon SES v2 (boto3), sent as Raw MIME so every custom header survives.

SES has no idempotency key and no look-up by our key, so :meth:`SesEmailSender.lookup` is unsupported:
messages left in ``sending`` are handled at-most-once by the outbox.
"""

from __future__ import annotations

from typing import Any

from storeflow.campaigns.senders import (
    LookupUnsupported,
    OneByOneSender,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    build_email,
)

_TRANSIENT = {"ThrottlingException", "TooManyRequestsException", "LimitExceededException",
              "ServiceUnavailable", "InternalFailure", "RequestTimeout"}


class SesEmailSender(OneByOneSender):
    channel = "email"
    provider = "ses"

    def __init__(self, client: Any, *, from_addr: str, from_name: str, domain: str, mailto: str | None = None,
                 configuration_set: str | None = None) -> None:
        self.client = client
        self.from_addr, self.from_name, self.domain, self.mailto = from_addr, from_name, domain, mailto
        self.configuration_set = configuration_set

    @classmethod
    def from_settings(cls, settings: Any, client: Any = None) -> SesEmailSender:
        if client is None:
            import boto3

            client = boto3.client("sesv2", region_name=settings.ses_region,
                                  endpoint_url=getattr(settings, "ses_endpoint_url", None))
        return cls(client, from_addr=settings.campaign_from_email, from_name=settings.shop_name,
                   domain=settings.campaign_message_id_domain, mailto=settings.unsubscribe_mailto,
                   configuration_set=settings.ses_configuration_set)

    def __enter__(self) -> SesEmailSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send_one(self, message: OutboundMessage) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        raw = build_email(message, from_addr=self.from_addr, from_name=self.from_name, domain=self.domain,
                          mailto=self.mailto)
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.from_addr,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "campaign", "Value": message.campaign_id}],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            return str(self.client.send_email(**kwargs)["MessageId"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _TRANSIENT:
                raise TransientSendError(f"SES {code}: {exc}") from exc
            raise PermanentSendError(f"SES {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientSendError(f"SES: {exc}") from exc

    def lookup(self, message: OutboundMessage) -> str | None:
        raise LookupUnsupported("SES cannot be searched by message key")
