"""Privacy (GDPR Art. 15 and 17): export everything storeflow holds about one person, or erase it.

* :mod:`~storeflow.privacy.erasure` — :func:`erase_customer`, the erasure and its steps;
* :mod:`~storeflow.privacy.access_export` — :func:`export_customer`, the Art. 15 export;
* :mod:`~storeflow.privacy.erased_values` — the lookup loaders use to skip erased people;
* :mod:`~storeflow.privacy.subject` — who the person is (:func:`resolve_subject`);
* :mod:`~storeflow.privacy.warehouse_rows` — which warehouse rows are theirs and how they are rewritten;
* :mod:`~storeflow.privacy.landing_scrub` — the same for the landing zone (raw pages, reports, exports);
* :mod:`~storeflow.privacy.external_opt_outs` — the opt-out written to the POS and the store;
* :mod:`~storeflow.privacy.scrub` — pure helpers: keyed pseudonyms, the :class:`Subject`, JSON scrubbing;
* :mod:`~storeflow.privacy.cli` — ``python -m storeflow.privacy erase|export`` (also ``storeflow privacy``).
"""
