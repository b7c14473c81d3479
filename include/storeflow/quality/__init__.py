"""storeflow.quality: cleaning, row rules, GX suites, quarantine, golden customer record, Data Docs.

Entry points (import the module you need; GX is only imported when a suite runs):

- cleaning (pure): ``emails.clean_email``, ``phones.clean_phone``, ``names.clean_name``,
  ``postcodes.clean_postcode``, ``countries.clean_country``; per record ``records.clean_customer`` and
  ``records.check_product|check_stock|check_order|check_invoice``; per batch ``records.clean_batch``.
- the two verbs every loader calls: ``screen.screen_batch`` (per page: row rules, quarantine, stage;
  ``screen.reject`` for a record that does not parse) and ``judge.judge_run`` (per run: GX suite, Data
  Docs, bad-row threshold; ``judge.dq_alert`` turns a failed verdict into an alert).
- validation: ``suites.SUITES`` (per stream, severities), ``validate.validate_frame``.
- quarantine rows and the threshold: ``quarantine.record`` / ``quarantine_many`` / ``apply_quarantine`` /
  ``resolve*``, ``quarantine.storable`` (any value a source sent, storable), ``quarantine.check_threshold``,
  ``QualityGateFailed``.
- golden record: ``identity.resolve_customers``, ``identity.undo_merge``.
- reporting: ``datadocs.write_data_docs``, ``summary.dq_summary``.
"""
