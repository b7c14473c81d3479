"""storeflow.scoring: per-customer scores computed nightly from the warehouse.

Modules: ``btyd`` (BG/NBD + Gamma-Gamma, the public API ``fit_bgnbd`` / ``fit_gamma_gamma``), ``summary``
(per-customer RFM/BTYD inputs from orders), ``rfm`` (quintile scores and the pinned segment table),
``predict`` (model and heuristic predictions, discounted CLV), ``churn`` (calibration, AUC), ``backtest``,
``features`` (behaviour features beyond (x, t_x, T), holdout labels), ``boosted`` (gradient-boosted
buy-again model trained on rolling time splits), ``compare`` (BG/NBD vs boosted vs recency-only rule on
held-out time, and the decision which serves), ``data_sufficiency`` (minimum-data check), ``replenishment``,
``send_time``, ``channel``, ``affinity``, ``hashing``
(stable partitions), ``pipeline`` (DAG entry points ``fit_models`` / ``score_partition`` /
``publish_scores`` / ``write_report`` and the readers ``current_scores`` / ``current_replenishment``),
``report`` (HTML report).
"""
