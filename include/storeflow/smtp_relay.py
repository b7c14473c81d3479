"""Opening a connection to an SMTP relay: TLS (verified), login and EHLO — for campaign email and alerts."""

from __future__ import annotations

import smtplib
import socket
import ssl


def connect_smtp(host: str, port: int, *, security: str = "none", username: str | None = None,
                 password: str | None = None, ca_bundle: str | None = None, timeout: float = 30.0
                 ) -> smtplib.SMTP:
    """A logged-in connection; ``security`` is ``none``, ``starttls`` or ``ssl``.

    Certificates and host names are always verified (a private relay's CA via ``ca_bundle``). Raises
    :class:`OSError` or :class:`smtplib.SMTPException`; the password never appears in errors.
    """
    if security not in ("none", "starttls", "ssl"):
        raise ValueError(f"SMTP security must be none, starttls or ssl, not {security!r}")
    tls = ssl.create_default_context(cafile=ca_bundle)
    if security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        # small request/response exchanges: without TCP_NODELAY, Nagle + delayed ACK cost ~40 ms each
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if security == "starttls":
            smtp.starttls(context=tls)
        if username and password:
            smtp.login(username, password)
        smtp.ehlo_or_helo_if_needed()  # learn the extensions (PIPELINING) before the first send
    except BaseException:
        smtp.close()
        raise
    return smtp
