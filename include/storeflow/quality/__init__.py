"""storeflow.quality: cleaning, row rules, GX suites, quarantine, golden customer record, Data Docs.

Entry points (import the module you need; GX is only imported when a suite runs):

- cleaning (pure): ``emails.clean_email``, ``phones.clean_phone``, ``names.clean_name``,
  ``postcodes.clean_postcode``, ``countries.clean_country``; per record ``records.clean_customer`` and
  ``records.check_product|check_stock|check_order|check_invoice``; per batch ``records.clean_batch``;
  a whole customers DataFrame ``bulk.clean_customers_frame``.
- validation: ``suites.SUITES`` (per stream, severities), ``validate.validate_frame``.
- quarantine: ``quarantine.apply_quarantine``, ``quarantine.check_threshold``, ``QualityGateFailed``.
- the gate a loader calls: ``gate.run_gate`` / ``gate.gate_customers`` / ``gate.run_customers_frame_gate``
  (bulk DataFrame path); ``gate.dq_alert``.
- golden record: ``identity.resolve_customers``, ``identity.undo_merge``.
- reporting: ``datadocs.write_data_docs``, ``summary.dq_summary``.
"""
