"""Demo credentials the local simulators accept by default (documented in the README).

They live in :mod:`storeflow.profile`, the only production module allowed to hand them out (and only in
the demo profile); the simulators import them from there.
"""

from storeflow.profile import DEMO_POS_TOKEN, DEMO_SMS_SID, DEMO_SMS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET

__all__ = ["DEMO_POS_TOKEN", "DEMO_SMS_SID", "DEMO_SMS_TOKEN", "DEMO_STORE_KEY", "DEMO_STORE_SECRET"]
