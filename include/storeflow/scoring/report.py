"""HTML scoring report: which model served whom and why, the side-by-side backtest of BG/NBD, the boosted
model and the recency-only rule (table and lift chart), segment sizes, CLV distribution, p_alive against
recency, backtest calibration."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from storeflow.scoring.rfm import SEGMENT_TABLE

if TYPE_CHECKING:  # matplotlib itself is imported lazily, where a chart is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _png(fig: Figure, ax: Axes, *, title: str, xlabel: str, ylabel: str | None = None) -> str:
    """Label the chart, then the figure as base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(run: dict[str, Any], scores: pd.DataFrame) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    order = [name for name, _, _ in SEGMENT_TABLE]
    counts = scores["rfm_segment"].value_counts().reindex(order, fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(counts.index[::-1], counts.to_numpy()[::-1], color="#4c72b0")
    out["Segment sizes"] = _png(fig, ax, title="RFM segments", xlabel="customers")

    clv = pd.to_numeric(scores["clv_365_minor"], errors="coerce").dropna() / 100.0
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if len(clv):
        ax.hist(clv.clip(upper=np.quantile(clv, 0.99)), bins=50, color="#55a868")
    out["CLV distribution"] = _png(fig, ax, title="CLV distribution", ylabel="customers",
                                   xlabel="predicted 365-day CLV (major units, 99th percentile clipped)")

    pa = scores.dropna(subset=["p_alive", "recency_days"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if len(pa):
        sample = pa.sample(min(len(pa), 5000), random_state=0)
        one = sample["n_orders"] <= 1
        ax.scatter(sample.loc[~one, "recency_days"], sample.loc[~one, "p_alive"], s=4, alpha=0.4,
                   label="repeat buyers")
        ax.scatter(sample.loc[one, "recency_days"], sample.loc[one, "p_alive"], s=4, alpha=0.4,
                   label="one-time buyers (p_alive = 1)")
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no model (heuristic method)", ha="center", transform=ax.transAxes)
    out["p_alive against recency"] = _png(fig, ax, title="p_alive against recency",
                                          xlabel="days since last order", ylabel="p_alive")

    metrics = run.get("metrics") or {}
    rel = metrics.get("reliability") or []
    raw = metrics.get("reliability_raw") or []
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    if rel:
        ax.plot([r["predicted"] for r in raw], [r["observed"] for r in raw], "s--", color="#8172b2",
                label="BG/NBD P(no order), raw")
        ax.plot([r["predicted"] for r in rel], [r["observed"] for r in rel], "o-", color="#c44e52",
                label="isotonic-calibrated (cross-fitted)")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no backtest", ha="center", transform=ax.transAxes)
    out["Backtest calibration"] = _png(fig, ax, title="Backtest calibration (churn)",
                                       xlabel="predicted P(no order in holdout)", ylabel="observed share")

    comp = metrics.get("comparison") or {}
    lift = comp.get("lift") or {}
    if lift:
        from storeflow.scoring.compare import MODEL_LABELS

        fig, ax = plt.subplots(figsize=(6, 4.5))
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="random")
        for name, pts in lift.items():
            if pts:
                ax.plot([0] + [p["share"] for p in pts], [0] + [p["captured"] for p in pts], marker=".",
                        label=MODEL_LABELS.get(name, name))
        ax.axvline(0.1, color="#999", lw=0.8, ls=":")
        ax.set_xlabel("share of customers, ranked by predicted value")
        ax.set_ylabel("share of holdout revenue captured")
        ax.set_title("Backtest lift (cumulative gains)")
        ax.legend(loc="lower right", fontsize=8)
        out["Lift chart"] = "svg:" + _svg(fig)  # inline SVG (vector, searchable text)
        plt.close(fig)
    return out


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE for inline use


def comparison_table(comp: dict[str, Any]) -> str:
    """HTML table: one row per metric, one column per model (BG/NBD, boosted, recency-only rule)."""
    from storeflow.scoring.compare import METRIC_LABELS, MODEL_LABELS

    table = comp.get("table") or {}
    if not table:
        return "<p>no model comparison in this run</p>"
    models = [m for m in MODEL_LABELS if m in table]
    head = "".join(f"<th>{html.escape(MODEL_LABELS[m])}</th>" for m in models)
    rows = []
    for key, label in METRIC_LABELS.items():
        cells = []
        for m in models:
            v = table[m].get(key)
            txt = "-" if v is None else (f"{v:+.1%}" if key == "aggregate_error" else
                                         f"{v:.1%}" if key == "top_decile_revenue_capture" else f"{v:.3f}")
            cells.append(f"<td>{html.escape(txt)}</td>")
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    info = comp.get("info") or {}
    caption = (f"held-out window after {html.escape(str(info.get('cutoff', '?')))}, "
               f"{html.escape(str(info.get('horizon_days', '?')))} days; {info.get('customers', '?')} customers "
               f"({info.get('one_time_buyers', '?')} one-time buyers)")
    return (f"<table class='comparison'><caption>{caption}</caption><tr><th>metric</th>{head}</tr>"
            f"{''.join(rows)}</table><p>Decision: <b>{html.escape(str(comp.get('winner')))}</b> — "
            f"{html.escape(str(comp.get('reason', '')))}</p>")


def _served_table(scores: pd.DataFrame) -> str:
    if "method_reason" not in scores or scores.empty:
        return _table(scores["method"].value_counts().to_dict()) if len(scores) else "<p>no scores</p>"
    counts = scores.groupby(["method", scores["method_reason"].fillna("")]).size().sort_values(ascending=False)
    rows = "".join(f"<tr><td>{html.escape(str(m))}</td><td>{html.escape(str(r))}</td><td>{n}</td></tr>"
                   for (m, r), n in counts.items())
    return f"<table><tr><th>model</th><th>why</th><th>customers</th></tr>{rows}</table>"


def _table(d: Mapping[Any, object]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in d.items() if not isinstance(v, list | dict))
    return f"<table>{rows}</table>"


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_report(run: dict[str, Any], scores: pd.DataFrame) -> str:
    """The report as a standalone HTML page (plots embedded as PNG data URIs)."""
    figs = _figures(run, scores)
    params = run.get("params") or {}
    model = {**(params.get("bgnbd") or {}), **{f"gg_{k}": v for k, v in (params.get("gamma_gamma") or {}).items()}}
    seg = scores["rfm_segment"].value_counts().to_dict()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Scoring report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}</style></head><body>",
        f"<h1>Scoring report {html.escape(str(run['model_version']))}</h1>",
        _table({"as of": run["as_of"], "method": run["method"], "gate": run.get("gate_reason"),
                "customers scored": len(scores), "methods": str(scores["method"].value_counts().to_dict())}),
        "<h2>Model parameters</h2>", _table(model) if model else "<p>not fitted (heuristic method)</p>",
        "<h2>Which model served whom</h2>", _served_table(scores),
        "<h2>Model comparison (backtest)</h2>", comparison_table((run.get("metrics") or {}).get("comparison") or {}),
        "<h2>Backtest</h2>", _table(run.get("metrics") or {}) if run.get("metrics") else "<p>none</p>",
        "<h2>Segments</h2>", _table(seg),
    ]
    for title, png in figs.items():
        if png.startswith("svg:"):
            parts.append(f"<h2>{html.escape(title)}</h2><figure>{png[4:]}</figure>")
            continue
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{png}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
