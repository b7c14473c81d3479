"""Property tests (hypothesis): normalisers are idempotent; valid records are never quarantined."""

from __future__ import annotations

import pandas as pd
import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.customer_frame import clean_customers_frame
from storeflow.quality.codes import ISO_COUNTRIES
from storeflow.quality.countries import _NAMES, clean_country
from storeflow.quality.emails import FAST_EMAIL, clean_email
from storeflow.quality.names import clean_name
from storeflow.quality.phones import clean_phone
from storeflow.quality.postcodes import RULES, clean_postcode
from storeflow.quality.records import clean_customer

PROFILE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COUNTRIES = sorted(RULES)
any_text = st.text(max_size=60)


def _idempotent(fn, value, *args):
    first = fn(value, *args)
    if first.ok and first.value is not None:
        second = fn(first.value, *args)
        assert second.ok, (value, first, second)
        assert second.value == first.value, (value, first.value, second.value)
        assert not second.changed


@PROFILE
@given(any_text | st.emails())
def test_email_idempotent(value):
    _idempotent(clean_email, value)


fast_like = st.from_regex(
    r"[A-Za-z0-9_%+\-]{1,8}(\.[A-Za-z0-9_%+\-]{1,5})?@([A-Za-z0-9]([A-Za-z0-9\-]{0,6}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,6}",
    fullmatch=True,
)


@PROFILE
@given(fast_like)
def test_email_fast_path_agrees_with_email_validator(value):
    from email_validator import EmailNotValidError, validate_email

    assume(FAST_EMAIL.fullmatch(value))
    try:
        expected = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:  # the fast path accepted something email-validator rejects
        raise AssertionError(f"fast path accepts {value!r}, email-validator says {exc}") from exc
    assert clean_email(value).value == expected


@PROFILE
@given(any_text | st.from_regex(r"\+?[0-9 ()\-]{6,20}", fullmatch=True), st.sampled_from([None, *COUNTRIES]))
def test_phone_idempotent(value, region):
    _idempotent(clean_phone, value, region, "GB")


@PROFILE
@given(any_text | st.from_regex(r"[A-Za-z' \-]{1,30}", fullmatch=True))
def test_name_idempotent(value):
    _idempotent(clean_name, value)


@PROFILE
@given(st.sampled_from(COUNTRIES + [None, "BE"]), st.data())
def test_postcode_idempotent(country, data):
    if country in RULES:
        value = data.draw(st.from_regex(RULES[country].valid, fullmatch=True) | any_text)
    else:
        value = data.draw(any_text)
    _idempotent(clean_postcode, value, country)


@PROFILE
@given(st.sampled_from(sorted(ISO_COUNTRIES) + sorted(_NAMES)) | any_text)
def test_country_idempotent(value):
    _idempotent(clean_country, value)


# --- valid records are never quarantined -------------------------------------------------------------
def _phone(region: str, fmt) -> str:
    num = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(num, fmt)


name_st = st.text(st.characters(categories=("Lu", "Ll")), min_size=1, max_size=20)
local_st = st.from_regex(r"[a-zA-Z0-9_+\-]{1,20}(\.[a-zA-Z0-9_]{1,10})?", fullmatch=True)


@st.composite
def valid_customers(draw):
    country = draw(st.sampled_from(COUNTRIES))
    fmt = draw(st.sampled_from([phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                                phonenumbers.PhoneNumberFormat.E164]))
    country_text = draw(st.sampled_from([country, country.lower()] + [k for k, v in _NAMES.items() if v == country]))
    email = f"{draw(local_st)}@{draw(st.sampled_from(['example.com', 'Mail.Example.ORG', 'shop.co.uk']))}"
    return {
        "source_id": draw(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True)),
        "email": draw(st.sampled_from([email, f"  {email} ", None])),
        "phone": draw(st.sampled_from([_phone(country, fmt), None])),
        "given_name": draw(name_st),
        "family_name": draw(name_st | st.none()),
        "postcode": draw(st.from_regex(RULES[country].valid, fullmatch=True)),
        "country": country_text,
        "city": draw(st.text(max_size=40)),
    }


@PROFILE
@given(valid_customers())
def test_valid_customer_never_quarantined(record):
    res = clean_customer(record, "GB")
    assert res.ok, (record, res.errors)
    again = clean_customer(res.record, "GB")
    assert again.ok and again.changed_fields == [], (res.record, again.changed_fields)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_customers(), min_size=1, max_size=15))
def test_bulk_equals_row_by_row_on_valid(records):
    assume(records)
    bulk = clean_customers_frame(pd.DataFrame(records), "GB")
    assert bulk.errors.empty
    for i, record in enumerate(records):
        row = clean_customer(record, "GB")
        for key in ("email", "email_norm", "phone", "given_name", "family_name", "postcode", "country"):
            value = bulk.frame.at[i, key]
            value = None if value is None or (isinstance(value, float) and pd.isna(value)) else value
            assert value == row.record.get(key), (record, key)


def test_recasing_a_dotted_capital_i_is_stable():
    # found by test_valid_customer_never_quarantined: lower-casing İ decomposes it (i + U+0307)
    once = clean_name("İA").value
    assert once == "İa" and clean_name(once).value == once
