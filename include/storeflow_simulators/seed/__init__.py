"""Deterministic seed data for the storeflow simulators: a small GBP retailer and its customers.

``generate_world(seed, scale, now)`` returns a :class:`~storeflow_simulators.world.World`; the same
``(seed, scale, now)`` always gives the same world (numpy ``default_rng`` streams keyed by seed and purpose).

Generative model
----------------
*Catalogue.* Nine categories (Coffee, Tea, Printer Toner, Pet Food, Perfume, Stationery, Kitchen, Apparel,
Gifts); ~60 products (tiny/small) or ~300 (medium/large) built from per-category templates, each with 1-12
variations (grind, pack, toner colour, flavour, colour x size). Consumables carry ``replenish_days``
(coffee 14-30, tea 25-35, pet food 20-30, toner 60-90, perfume 90-120). Prices are pence, **net of VAT**:
every order adds 20 % VAT on goods + shipping in ``tax_minor``, so ``Order.total_minor`` (subtotal -
discount + tax + shipping) is exactly what a vendor shows. About 8 % of products are POS-only
(``online=False``). Stock per (variation, ACTIVE location) is uniform 0..80 with ~10 % forced zeros.
Three shops: two ACTIVE that feed online stock, one INACTIVE (closed 180 days before ``now``; its
historical in-store orders remain).

*Purchases (BG/NBD).* Person ``i`` has a purchase rate ``lambda_i ~ Gamma(r=0.9, rate=alpha=0.225/yr)``
(mean 4/yr, heavy tail) and a dropout probability ``p_i ~ Beta(a=1, b=3)`` (mean 0.25). The first
purchase ``T0_i`` falls in the two years before ``now`` (density rising towards ``now``: acquisition
grows). Repeat purchases form a Poisson(lambda_i) process; after each purchase the person drops out with
probability ``p_i`` (then buys nothing more). 4 % of people are prospects (registered, never bought).
*Replenishment* is layered on top: the first purchase of a replenishable product starts a re-buy
chain with probability ``0.9 * lambda_i / (lambda_i + 8)`` (engaged buyers adopt habits more often),
with gaps ``replenish_days * quantity * speed_i * LogNormal(0, 0.15)`` (two units last twice as long;
``speed_i ~ LogNormal(0, 0.2)``), continuing each cycle with probability 0.8 while the person is alive.
Observed order counts are therefore BG/NBD counts plus replenishment orders (~25-30 % of orders);
``Truth.true_rates[pid]`` holds ``rate_per_year``, ``p_dropout``, ``alive``, ``dropout_at`` (epoch s,
-1 if alive), ``first_seen``, ``n_orders``, ``n_replenishment_orders``, ``online_share``, and
``Truth.generator_params`` the hyper-parameters.

*Baskets.* 1-4 lines; each line's category is one of the person's 1-3 favourite categories (p=0.75) or
a popularity-weighted random one; 35 % of people change favourites at a random time (taste drift).
Products within a category follow a Zipf-like popularity; quantity 1 (80 %), 2 (15 %), 3 (5 %).

*Channels and time.* Each person is POS-only (30 %), store-only (35 %) or both (35 %; online share ~
Beta(2, 2)); 12 % of store-only buyers are guests with no account (orders with ``customer_source_id``
None, known only by billing email), and 5 % of other online / in-store orders are guest / anonymous.
Online orders are moved to the person's local ``preferred_hour`` (+- N(0, 1.3) h) and, 30 % of the time,
to their ``preferred_weekday`` of that week, in their own time zone (London 85 %, Paris, Berlin, New
York); in-store orders fall in shop hours (Europe/London). User agents follow ``mobile_share``;
``created_via`` is "checkout"; the first online order carries the acquisition channel (ads / referral /
coupon / organic) and, for coupon acquisitions, coupon WELCOME10. Online statuses: recent orders mostly
processing, older ones completed with a few cancelled / refunded; POS orders COMPLETED.

*Customer records.* One record per system the person uses (POS ids Square-like, store ids 1..N in
creation order), plus ~2 % same-system duplicates. Records differ in format (email case / whitespace,
phone national vs E.164 vs spaced, name case, postcode without space, country spelled out - store
records only: Square's ``address.country`` is an ISO 3166-1 alpha-2 enum, so POS records always carry
the code) and ~6 % carry planted defects (broken or missing email, unparseable phone, very long strings, swapped or
ASCII-folded names); unicode names are planted too. Every variant is listed in ``SourceCustomer.dirty``
and ``Truth.planted_defects`` (labels split into :data:`FORMAT_VARIANTS` and :data:`HARD_DEFECTS`);
``Truth.duplicate_pairs`` lists all pairs of keys of one person, and
``Truth.person_of`` maps every key ("pos:<id>" / "store:<id>") to its person. Consent follows the person,
with ~4 % opt-outs recorded in only one system. Emails use example.com/.org/.net; phones come from
fictional ranges (UK 07700 900xxx mobiles and Ofcom drama landlines, US NPA-555-01xx, FR 06 39 98 xx xx;
Berlin customers get UK numbers),
which all parse with ``phonenumbers`` (note: libphonenumber marks 07700 900xxx and 06 39 98 as *not
valid* - use ``is_possible_number``). The pool holds ~25k numbers, so only at medium/large scale are
some numbers shared by several people (``Truth.generator_params["shared_phones"]``).

At ``scale="large"`` (1M people) ``World.orders`` is left empty (``World.orders_omitted`` is True): use
:func:`generate_transactions` for array-based order data. ``generate_transactions(seed, n, now)`` with the
same ``n`` as a scale reproduces exactly that world's orders.

Modules, one per section of the model: :mod:`.params` (scales, hyper-parameters, random streams),
:mod:`.ids`, :mod:`.catalogue`, :mod:`.people`, :mod:`.orders` (arrays), :mod:`.identities`,
:mod:`.records` (source customer records), :mod:`.assemble` (the World) and :mod:`.jsonio`.
"""

from __future__ import annotations

from storeflow_simulators.seed.assemble import generate_world
from storeflow_simulators.seed.jsonio import read_truth, world_from_json, world_to_json, write_truth
from storeflow_simulators.seed.orders import generate_transactions
from storeflow_simulators.seed.params import SCALES
from storeflow_simulators.seed.records import FORMAT_VARIANTS, HARD_DEFECTS

__all__ = [
    "FORMAT_VARIANTS",
    "HARD_DEFECTS",
    "SCALES",
    "generate_world",
    "generate_transactions",
    "world_to_json",
    "world_from_json",
    "write_truth",
    "read_truth",
]
