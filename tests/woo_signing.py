"""OAuth 1.0a query signing by the official ``woocommerce`` SDK: an implementation independent of the store
simulator's (and of storeflow's ``WooClient``), so a test signs like a real client would."""

from __future__ import annotations

import time

import requests

from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET


class SdkOAuth(requests.auth.AuthBase):
    """Signs every request with OAuth 1.0a in the query string, using the official ``woocommerce`` SDK's
    signer; plain HTTP needs it like a real store."""

    def __init__(self, key: str = DEMO_STORE_KEY, secret: str = DEMO_STORE_SECRET) -> None:
        self.key, self.secret = key, secret

    def __call__(self, r):
        from woocommerce.oauth import OAuth

        r.url = OAuth(url=r.url, consumer_key=self.key, consumer_secret=self.secret, version="wc/v3",
                      method=r.method, oauth_timestamp=int(time.time())).get_oauth_url()
        return r
