"""Tests for the simulators' seed data generator (storeflow_simulators.seed)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import combinations
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from scipy.stats import spearmanr

from storeflow_simulators.seed import (
    FORMAT_VARIANTS,
    HARD_DEFECTS,
    generate_transactions,
    generate_world,
    read_truth,
    world_from_json,
    world_to_json,
    write_truth,
)
from storeflow_simulators.world import World

NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)  # summer: London is UTC+1
SQUARE_ID = re.compile(r"^[0-9A-Z]{26}$")
EMAIL_DEFECTS = {"email_broken", "email_missing"}
PHONE_DEFECTS = {"phone_unparseable"}


@pytest.fixture(scope="module")
def tiny() -> World:
    return generate_world(11, "tiny", NOW)


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world(42, "small", NOW)


def _records(world: World):
    for c in world.pos_customers:
        yield f"pos:{c.source_id}", c
    for c in world.store_customers:
        yield f"store:{c.source_id}", c


def test_same_seed_same_json_and_different_seed_differs(tiny: World) -> None:
    again = json.dumps(world_to_json(generate_world(11, "tiny", NOW)), sort_keys=True)
    assert json.dumps(world_to_json(tiny), sort_keys=True) == again
    other = json.dumps(world_to_json(generate_world(12, "tiny", NOW)), sort_keys=True)
    assert other != again


def test_tiny_scale_size_and_speed() -> None:
    generate_world(5, "tiny", NOW)  # warm caches (imports, tz data)
    start = time.perf_counter()
    world = generate_world(6, "tiny", NOW)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed
    assert len(world.people) == 300
    assert 55 <= len(world.products) <= 65
    assert len(world.orders) > 300
    assert world.currency == "GBP" and world.store_timezone == "Europe/London"
    assert ZoneInfo(world.store_timezone).utcoffset(NOW.replace(tzinfo=None)).total_seconds() == 3600


def test_default_now_is_current_hour_and_bad_scale_rejected() -> None:
    world = generate_world(1, "tiny")
    assert world.now.tzinfo is not None and world.now.utcoffset().total_seconds() == 0
    assert (world.now.minute, world.now.second, world.now.microsecond) == (0, 0, 0)
    assert abs((datetime.now(UTC) - world.now).total_seconds()) < 3700
    with pytest.raises(ValueError):
        generate_world(1, "huge", NOW)


def test_json_round_trip(tiny: World, tmp_path) -> None:
    data = json.loads(json.dumps(world_to_json(tiny)))
    assert data["now"] == "2026-07-15T12:00:00+00:00"
    assert data["orders"][0]["created_at"].endswith("+00:00")
    back = world_from_json(data)
    assert back == tiny
    assert isinstance(back.truth.duplicate_pairs[0], tuple)
    assert back.orders[0].created_at.tzinfo is not None
    path = write_truth(tiny, tmp_path / "sub" / "truth.json")
    assert read_truth(path) == tiny.truth


def test_catalogue_locations_and_stock(small: World) -> None:
    active = [loc for loc in small.locations if loc.status == "ACTIVE"]
    assert 2 <= len(small.locations) <= 3
    assert sum(1 for loc in active if loc.feeds_online) >= 2
    assert all(re.fullmatch(r"L[0-9A-Z]{12}", loc.location_id) for loc in small.locations)
    skus = [v.sku for p in small.products for v in p.variations]
    assert len(skus) == len(set(skus))
    assert "COF-ETH-250" in skus or any(re.fullmatch(r"COF-[A-Z]+-250(-G)?", s) for s in skus)
    ids = [p.item_id for p in small.products] + [v.variation_id for p in small.products for v in p.variations]
    assert all(SQUARE_ID.match(i) for i in ids) and len(ids) == len(set(ids))
    assert set(small.categories) >= {"Coffee", "Tea", "Printer Toner", "Pet Food", "Perfume", "Apparel"}
    assert any(not p.online for p in small.products) and sum(p.online for p in small.products) > 50
    apparel = [p for p in small.products if p.category == "Apparel"]
    sized = [p for p in apparel if {"Colour", "Size"} <= set(p.variations[0].attributes)]
    assert sized and all(len(p.variations) >= 8 for p in sized)
    assert all(len(p.variations) >= 2 for p in apparel)
    ranges = {
        "Coffee": (14, 30),
        "Tea": (25, 35),
        "Printer Toner": (60, 90),
        "Pet Food": (20, 30),
        "Perfume": (90, 120),
    }
    for p in small.products:
        if p.category in ranges:
            lo, hi = ranges[p.category]
            assert lo <= p.replenish_days <= hi
        else:
            assert p.replenish_days is None
        assert all(99 <= v.price_minor <= 25_000 for v in p.variations)
    active_ids = {loc.location_id for loc in active}
    assert {s.location_id for s in small.stock} == active_ids
    assert len(small.stock) == len(skus) * len(active_ids)
    qty = [s.quantity for s in small.stock]
    assert min(qty) == 0 and max(qty) <= 80 and sum(q == 0 for q in qty) > 0.05 * len(qty)


def test_order_totals_consistent(small: World) -> None:
    by_var = {v.variation_id: v for p in small.products for v in p.variations}
    online_products = {v.variation_id for p in small.products if p.online for v in p.variations}
    loc_ids = {loc.location_id for loc in small.locations}
    for o in small.orders:
        assert o.lines and len({ln.variation_id for ln in o.lines}) == len(o.lines)
        for ln in o.lines:
            var = by_var[ln.variation_id]
            assert (ln.sku, ln.unit_price_minor) == (var.sku, var.price_minor) and ln.quantity >= 1
        assert 0 <= o.discount_minor <= o.subtotal_minor
        assert o.tax_minor == round(0.2 * (o.subtotal_minor - o.discount_minor + o.shipping_minor))
        assert o.total_minor == o.subtotal_minor - o.discount_minor + o.tax_minor + o.shipping_minor > 0
        if o.channel == "online":
            assert all(ln.variation_id in online_products for ln in o.lines)
            assert o.created_via == "checkout" and o.user_agent and o.location_id is None
            assert o.order_id.isdigit()
            assert o.shipping_minor == (395 if o.subtotal_minor - o.discount_minor < 4000 else 0)
        else:
            assert o.status == "COMPLETED" and o.location_id in loc_ids and SQUARE_ID.match(o.order_id)
            assert o.shipping_minor == 0 and o.user_agent is None
    assert len({o.order_id for o in small.orders}) == len(small.orders)
    statuses = Counter(o.status for o in small.orders if o.channel == "online")
    assert statuses["completed"] > 0.8 * sum(statuses.values())
    assert statuses["cancelled"] and statuses["refunded"] and statuses["processing"]
    assert sum(o.discount_minor > 0 for o in small.orders) > 0.02 * len(small.orders)
    assert any(o.coupon == "WELCOME10" for o in small.orders)


def test_transactions_arrays_match_world_orders(tiny: World) -> None:
    tx = generate_transactions(11, 300, NOW)
    assert len(tx["order_customer"]) == len(tiny.orders)
    assert [int(t) for t in tx["order_timestamp"]] == [int(o.created_at.timestamp()) for o in tiny.orders]
    assert tx["order_total"].tolist() == [o.total_minor for o in tiny.orders]
    assert tx["sku"].tolist() == [ln.sku for o in tiny.orders for ln in o.lines]
    assert tx["amount"].tolist() == [ln.quantity * ln.unit_price_minor for o in tiny.orders for ln in o.lines]
    assert tx["true_rate_per_year"].tolist() == [p.true_rate_per_year for p in tiny.people]
    assert (tx["timestamp"] < NOW.timestamp()).all()


def test_duplicates_recorded_consistently(small: World) -> None:
    truth = small.truth
    records = dict(_records(small))
    assert set(truth.person_of) == set(records)
    assert all(truth.person_of[k] == c.person_id for k, c in records.items())
    assert all(SQUARE_ID.match(c.source_id) for c in small.pos_customers)
    assert sorted(int(c.source_id) for c in small.store_customers) == list(
        range(1, len(small.store_customers) + 1)
    )
    store_emails = [c.email.strip().lower() for c in small.store_customers]
    assert all(store_emails) and len(set(store_emails)) == len(store_emails)  # the store needs unique emails
    group = defaultdict(list)
    for key, pid in truth.person_of.items():
        group[pid].append(key)
    expected = {tuple(sorted(p)) for keys in group.values() for p in combinations(keys, 2)}
    assert {tuple(sorted(p)) for p in truth.duplicate_pairs} == expected
    assert len(truth.duplicate_pairs) == len(expected)
    cross = [p for p in truth.duplicate_pairs if p[0].split(":")[0] != p[1].split(":")[0]]
    same = [p for p in truth.duplicate_pairs if p[0].split(":")[0] == p[1].split(":")[0]]
    both = sum(1 for keys in group.values() if {k.split(":")[0] for k in keys} == {"pos", "store"})
    assert 0.25 < both / len(small.people) < 0.45
    assert len(same) > 0 and len(cross) > 1000
    # duplicates differ in format: emails equal only after normalisation, phones in different formats
    diff_email = diff_phone = 0
    for a, b in cross:
        ea, eb = records[a].email, records[b].email
        if ea and eb and ea != eb and ea.strip().lower() == eb.strip().lower():
            diff_email += 1
        pa, pb = records[a].phone, records[b].phone
        clean = not (PHONE_DEFECTS & (set(records[a].dirty) | set(records[b].dirty)))
        if clean and pa and pb and pa != pb and phonenumbers.parse(pa, "GB") == phonenumbers.parse(pb, "GB"):
            diff_phone += 1
    assert diff_email > 50 and diff_phone > 200
    # guests: online orders without an account, some persons known only by billing email
    assert any(o.channel == "online" and o.customer_source_id is None for o in small.orders)
    known = set(truth.person_of.values())
    assert any(p.person_id not in known and p.email for p in small.people)
    # orders point at records of their own person
    for o in small.orders:
        if o.customer_source_id is not None:
            key = f"{'store' if o.channel == 'online' else 'pos'}:{o.customer_source_id}"
            assert truth.person_of[key] == o.person_id
            assert records[key].created_at <= o.created_at


def test_planted_defects_present_and_recorded(small: World) -> None:
    truth = small.truth
    records = dict(_records(small))
    assert truth.planted_defects == {k: c.dirty for k, c in records.items() if c.dirty}
    kinds = Counter(d for c in records.values() for d in c.dirty)
    assert set(kinds) <= FORMAT_VARIANTS | HARD_DEFECTS and not FORMAT_VARIANTS & HARD_DEFECTS
    for kind in [
        "email_broken",
        "email_missing",
        "phone_unparseable",
        "unicode_name",
        "long_string",
        "email_case",
        "email_whitespace",
        "phone_national",
        "name_upper",
        "name_lower",
        "postcode_nospace",
        "country_name",
        "duplicate_record",
    ]:
        assert kinds[kind] > 0, kind
    hard = {
        "email_broken",
        "email_missing",
        "phone_unparseable",
        "long_string",
        "name_swapped",
        "name_ascii_folded",
    }
    share = sum(1 for c in records.values() if hard & set(c.dirty)) / len(records)
    assert 0.04 < share < 0.10
    for key, c in records.items():
        if c.email and not (EMAIL_DEFECTS & set(c.dirty)):
            addr = c.email.strip().lower()
            assert addr.split("@")[1] in {"example.com", "example.org", "example.net"}, key
            validate_email(addr, check_deliverability=False, test_environment=True)
        if "email_broken" in c.dirty:
            with pytest.raises(EmailNotValidError):
                validate_email(c.email.strip(), check_deliverability=False, test_environment=True)
        if c.phone and not (PHONE_DEFECTS & set(c.dirty)):
            assert phonenumbers.is_possible_number(phonenumbers.parse(c.phone, "GB")), (key, c.phone)
        if "phone_unparseable" in c.dirty:
            try:
                ok = phonenumbers.is_possible_number(phonenumbers.parse(c.phone, "GB"))
            except phonenumbers.NumberParseException:
                ok = False
            assert not ok, c.phone
        if "long_string" in c.dirty:
            assert len(c.address_line1) > 200
        if "unicode_name" in c.dirty:
            assert not (c.given_name + c.family_name).isascii() or "name_ascii_folded" in c.dirty
    assert any("山田" in p.family_name for p in small.people)


def test_consent_follows_person_with_one_system_opt_outs(small: World) -> None:
    people = {p.person_id: p for p in small.people}
    for _, c in _records(small):
        p = people[c.person_id]
        if p.email_consent:
            assert c.email_unsubscribed == ("email_optout_only_here" in c.dirty)
        else:
            assert c.email_unsubscribed
        if p.sms_consent:
            assert c.sms_unsubscribed == ("sms_optout_only_here" in c.dirty)
        else:
            assert c.sms_unsubscribed
        if p.phone:
            assert phonenumbers.is_possible_number(phonenumbers.parse(p.phone))
    flagged = [
        c for _, c in _records(small) if {"email_optout_only_here", "sms_optout_only_here"} & set(c.dirty)
    ]
    assert flagged


def test_purchase_rate_heterogeneity(small: World) -> None:
    counts = Counter(o.person_id for o in small.orders)
    now_s = NOW.timestamp()
    n, lam, tenure = [], [], []
    for p in small.people:
        if counts[p.person_id] >= 2:
            n.append(counts[p.person_id])
            lam.append(p.true_rate_per_year)
            tenure.append((now_s - p.first_seen.timestamp()) / (365.25 * 86400))
    assert len(n) > 1000
    rates = np.array(lam)
    everyone = np.array([p.true_rate_per_year for p in small.people])
    assert 3.5 < everyone.mean() < 4.5 and everyone.std() / everyone.mean() > 0.8  # heavy tail
    assert spearmanr(np.array(n) / np.array(tenure), rates).statistic > 0.3
    assert spearmanr(n, rates).statistic > 0.25
    dropout = np.array([p.true_p_dropout for p in small.people])
    assert 0.2 < dropout.mean() < 0.3
    truth = small.truth.true_rates
    assert all(truth[p.person_id]["rate_per_year"] == p.true_rate_per_year for p in small.people)
    assert sum(truth[pid]["n_orders"] for pid in truth) == len(small.orders)


def test_no_orders_after_now_and_timestamps_consistent(small: World) -> None:
    assert all(o.created_at < NOW for o in small.orders)
    assert min(o.created_at for o in small.orders) >= datetime(2024, 7, 1, tzinfo=UTC)
    for _, c in _records(small):
        assert c.created_at <= c.updated_at < NOW
    first = {}
    for o in small.orders:
        first.setdefault(o.person_id, o.created_at)
    for p in small.people:
        if p.person_id in first:
            assert abs((first[p.person_id] - p.first_seen).total_seconds()) < 8 * 86400


def test_order_times_follow_preferred_hours_and_shop_hours(small: World) -> None:
    people = {p.person_id: p for p in small.people}
    diffs = []
    for o in small.orders:
        if o.channel == "online":
            p = people[o.person_id]
            hour = o.created_at.astimezone(ZoneInfo(p.timezone)).hour
            diffs.append(min((hour - p.preferred_hour) % 24, (p.preferred_hour - hour) % 24))
        else:
            local = o.created_at.astimezone(ZoneInfo("Europe/London"))
            assert 9 <= local.hour <= 17, local
    diffs = np.array(diffs)
    assert (diffs <= 2).mean() > 0.8
    assert (diffs >= 6).mean() < 0.05
    zones = Counter(p.timezone for p in small.people)
    assert zones["Europe/London"] > 0.75 * len(small.people)
    assert {"Europe/Paris", "Europe/Berlin", "America/New_York"} <= set(zones)
    mobile = [o for o in small.orders if o.channel == "online" and "Mobile" in o.user_agent]
    assert 0.3 < len(mobile) / len(diffs) < 0.8
    weekday_hits, per_person = [], defaultdict(list)
    for o in small.orders:
        if o.channel == "online":
            p = people[o.person_id]
            weekday_hits.append(
                o.created_at.astimezone(ZoneInfo(p.timezone)).weekday() == p.preferred_weekday
            )
            per_person[o.person_id].append("Mobile" in o.user_agent)
    assert np.mean(weekday_hits) > 0.3  # vs 1/7 without a preferred weekday
    shares = [(people[pid].mobile_share, np.mean(v)) for pid, v in per_person.items() if len(v) >= 4]
    assert spearmanr([a for a, _ in shares], [b for _, b in shares]).statistic > 0.5


def test_replenishment_intervals_scale_with_quantity(small: World) -> None:
    product_of = {v.variation_id: p for p in small.products for v in p.variations}
    buys = defaultdict(list)
    for o in small.orders:
        for ln in o.lines:
            product = product_of[ln.variation_id]
            if product.replenish_days:
                buys[(o.person_id, product.item_id)].append(
                    (o.created_at, ln.quantity, product.replenish_days)
                )
    ratio = {1: [], 2: []}
    for seq in buys.values():
        for (t1, q, days), (t2, _, _) in zip(seq, seq[1:], strict=False):
            if q in ratio:
                ratio[q].append((t2 - t1).total_seconds() / 86400 / days)
    assert len(ratio[1]) > 500 and len(ratio[2]) > 50
    med1, med2 = np.median(ratio[1]), np.median(ratio[2])
    assert 0.7 < med1 < 1.4
    assert 1.5 < med2 / med1 < 2.6  # two units last about twice as long


def test_taste_drift_and_favourite_categories(small: World) -> None:
    product_of = {v.variation_id: p for p in small.products for v in p.variations}
    cats_per_person = defaultdict(list)
    for o in small.orders:
        for ln in o.lines:
            cats_per_person[o.person_id].append((o.created_at, product_of[ln.variation_id].category))
    concentrated = changed = eligible = 0
    for seq in cats_per_person.values():
        if len(seq) < 12:
            continue
        eligible += 1
        top = Counter(c for _, c in seq).most_common(1)[0][1]
        concentrated += top / len(seq) > 0.3
        half = len(seq) // 2
        a = Counter(c for _, c in seq[:half]).most_common(1)[0][0]
        b = Counter(c for _, c in seq[half:]).most_common(1)[0][0]
        changed += a != b
    assert eligible > 100
    assert concentrated / eligible > 0.8
    assert 0.1 < changed / eligible < 0.7


def test_generate_transactions_arrays_are_consistent() -> None:
    tx = generate_transactions(3, 20_000, NOW)
    n_orders = len(tx["order_customer"])
    assert n_orders > 40_000 and len(tx["true_rate_per_year"]) == 20_000
    assert (np.diff(tx["order_timestamp"]) >= 0).all() and tx["order_timestamp"].max() < NOW.timestamp()
    assert (np.diff(tx["order"]) >= 0).all() and tx["order"].max() == n_orders - 1
    assert (tx["customer"] == tx["order_customer"][tx["order"]]).all()
    assert (tx["timestamp"] == tx["order_timestamp"][tx["order"]]).all()
    assert (tx["amount"] > 0).all() and (tx["quantity"] >= 1).all()
    goods = np.bincount(tx["order"], weights=tx["amount"], minlength=n_orders)
    assert (tx["order_total"] >= goods * 0.85).all()  # at most 15 % off, VAT on top
    assert set(np.unique(tx["channel"]).tolist()) == {0, 1}
    assert 0.5 < tx["alive"].mean() < 0.95


@pytest.mark.slow
def test_medium_scale_generates_in_reasonable_time() -> None:
    start = time.perf_counter()
    world = generate_world(2, "medium", NOW)
    assert time.perf_counter() - start < 60
    assert len(world.people) == 50_000 and 250 <= len(world.products) <= 350
    assert not world.orders_omitted and len(world.orders) > 100_000
    assert all(o.created_at < NOW for o in world.orders)
