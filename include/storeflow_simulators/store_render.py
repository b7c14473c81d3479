"""Render store simulator records in the WooCommerce REST v3 JSON shape."""

from __future__ import annotations

from typing import Any

from storeflow_simulators.store_common import fmt_gmt, fmt_local, fmt_money
from storeflow_simulators.store_state import StoreState, is_protected_meta


def _dates(state: StoreState, rec: dict[str, Any], *names: str) -> dict[str, Any]:
    tz = state.tz
    out: dict[str, Any] = {}
    for name in names:
        value = rec.get(name)
        out[name] = fmt_local(value, tz)
        out[f"{name}_gmt"] = fmt_gmt(value)
    return out


def _meta(rec: dict[str, Any], hide_protected: bool = False) -> list[dict[str, Any]]:
    return [{"id": m["id"], "key": m["key"], "value": m["value"]} for m in rec.get("meta_data", [])
            if not (hide_protected and is_protected_meta(m["key"]))]


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in str(text))
    return "-".join(p for p in out.split("-") if p)


def variation_attributes(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """A variation's attributes as WooCommerce renders them: ``id`` (0 = custom), ``name``, ``slug``, ``option``."""
    out = []
    for attr in rec.get("attributes", []):
        name = str(attr.get("name", ""))
        out.append({"id": int(attr.get("id") or 0), "name": name, "slug": attr.get("slug") or _slug(name),
                    "option": attr.get("option", "")})
    return out


def _prices(rec: dict[str, Any]) -> dict[str, Any]:
    regular, sale = rec.get("regular_price"), rec.get("sale_price")
    on_sale = sale is not None and (regular is None or sale < regular)
    price = sale if on_sale else regular
    return {"price": fmt_money(price), "regular_price": fmt_money(regular), "sale_price": fmt_money(sale),
            "on_sale": on_sale, "purchasable": price is not None}


def _stock(state: StoreState, rec: dict[str, Any]) -> dict[str, Any]:
    mode = state.managing(rec)
    holder = state.stock_holder(rec)
    return {
        "manage_stock": mode,
        "stock_quantity": holder.get("stock_quantity") if holder is not None else None,
        "stock_status": state.stock_status(rec),
        "backorders": rec.get("backorders", "no"),
        "backorders_allowed": rec.get("backorders", "no") != "no",
        "backordered": False,
        "low_stock_amount": rec.get("low_stock_amount"),
    }


def product_json(state: StoreState, rec: dict[str, Any], base_url: str = "") -> dict[str, Any]:
    """A product (or a variation found through ``/products``, then ``type: "variation"``)."""
    cats = {c["id"]: c for c in state.categories}
    out = {
        "id": rec["id"], "name": rec["name"], "slug": rec["slug"],
        "permalink": f"{base_url}/product/{rec['slug']}/",
        **_dates(state, rec, "date_created", "date_modified"),
        "type": rec["type"], "status": rec["status"], "featured": False, "catalog_visibility": "visible",
        "description": rec.get("description", ""), "short_description": rec.get("short_description", ""),
        "sku": rec["sku"], **_prices(rec), "date_on_sale_from": None, "date_on_sale_from_gmt": None,
        "date_on_sale_to": None, "date_on_sale_to_gmt": None, "total_sales": rec.get("total_sales", 0),
        "virtual": False, "downloadable": False, "tax_status": "taxable", "tax_class": "",
        **_stock(state, rec), "sold_individually": False, "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""}, "shipping_required": True,
        "parent_id": rec.get("parent_id", 0),
        "categories": [{"id": c, "name": cats[c]["name"], "slug": cats[c]["slug"]} for c in rec.get("categories", [])
                       if c in cats],
        "tags": [], "images": [],
        "attributes": rec.get("attributes", []), "default_attributes": rec.get("default_attributes", []),
        "variations": list(rec.get("variations", [])), "menu_order": rec.get("menu_order", 0),
        "meta_data": _meta(rec),
        # fields real WooCommerce 10.0.2 also returns (storeflow does not use them)
        "global_unique_id": rec.get("global_unique_id", ""), "downloads": [], "download_limit": -1,
        "download_expiry": -1, "external_url": "", "button_text": "", "shipping_taxable": True,
        "shipping_class": "", "shipping_class_id": 0, "reviews_allowed": True, "average_rating": "0.00",
        "rating_count": 0, "upsell_ids": [], "cross_sell_ids": [], "related_ids": [], "purchase_note": "",
        "brands": [], "grouped_products": [], "has_options": rec["type"] == "variable", "post_password": "",
    }
    if rec["type"] == "variable":
        kids = [state.products[v] for v in rec.get("variations", []) if v in state.products]
        prices = sorted(p for p in (k.get("sale_price") if k.get("sale_price") is not None else k.get("regular_price")
                                    for k in kids) if p is not None)
        out["price"] = fmt_money(prices[0]) if prices else ""
    out["price_html"] = _price_html(out["price"], state.options.currency)
    return out


_SYMBOLS = {"GBP": "&pound;", "EUR": "&euro;", "USD": "&#36;"}


def _price_html(price: str, currency: str) -> str:
    if not price:
        return ""
    symbol = _SYMBOLS.get(currency, currency)
    return (f'<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">'
            f"{symbol}</span>{price}</bdi></span>")


def variation_json(state: StoreState, rec: dict[str, Any], base_url: str = "") -> dict[str, Any]:
    """A variation as ``/products/{id}/variations`` returns it (``name`` = attribute summary, e.g. ``"S"``)."""
    attributes = variation_attributes(rec)
    parent = state.products.get(rec.get("parent_id") or 0)
    query = "&".join(f"attribute_{a['slug']}={_slug(a['option'])}" for a in attributes)
    return {
        "id": rec["id"], "type": "variation", "parent_id": rec.get("parent_id", 0),
        "name": ", ".join(str(a["option"]) for a in attributes),
        **_dates(state, rec, "date_created", "date_modified"),
        "description": rec.get("description", ""),
        "permalink": f"{base_url}/product/{parent['slug'] if parent else ''}/" + (f"?{query}" if query else ""),
        "sku": rec["sku"], **_prices(rec), "date_on_sale_from": None, "date_on_sale_from_gmt": None,
        "date_on_sale_to": None, "date_on_sale_to_gmt": None, "status": rec["status"], "virtual": False,
        "downloadable": False, "tax_status": "taxable", "tax_class": "", **_stock(state, rec), "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "", "image": None,
        "attributes": attributes, "menu_order": rec.get("menu_order", 0),
        "meta_data": _meta(rec),
    }


def _money_lines(lines: list[dict[str, Any]], money: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        item = {k: v for k, v in line.items() if k != "reduced_stock"}
        for key in money:
            if key in item:
                item[key] = fmt_money(item[key])
        if "meta_data" in item:
            item["meta_data"] = _meta(line)
        out.append(item)
    return out


def order_json(state: StoreState, rec: dict[str, Any]) -> dict[str, Any]:
    """An order in the v3 shape (money as strings, line ``price`` as a number)."""
    line_items = []
    for li in rec["line_items"]:
        item = _money_lines([li], ("subtotal", "subtotal_tax", "total", "total_tax"))[0]
        item["taxes"] = []
        item["price"] = round(li["subtotal"] / li["quantity"] / 100, 4) if li["quantity"] else 0.0
        item["image"] = {"id": "", "src": ""}
        item["parent_name"] = None
        line_items.append(item)
    return {
        "id": rec["id"], "parent_id": rec["parent_id"], "status": rec["status"], "currency": rec["currency"],
        "version": state.options.wc_version, "prices_include_tax": False,
        **_dates(state, rec, "date_created", "date_modified"),
        "discount_total": fmt_money(rec["discount_total"]), "discount_tax": fmt_money(rec["discount_tax"]),
        "shipping_total": fmt_money(rec["shipping_total"]), "shipping_tax": fmt_money(rec["shipping_tax"]),
        "cart_tax": fmt_money(rec["cart_tax"]), "total": fmt_money(rec["total"]),
        "total_tax": fmt_money(rec["total_tax"]), "customer_id": rec["customer_id"], "order_key": rec["order_key"],
        "billing": dict(rec["billing"]), "shipping": dict(rec["shipping"]),
        "payment_method": rec["payment_method"], "payment_method_title": rec["payment_method_title"],
        "transaction_id": rec["transaction_id"], "customer_ip_address": rec["customer_ip_address"],
        "customer_user_agent": rec["customer_user_agent"], "created_via": rec["created_via"],
        "customer_note": rec["customer_note"], **_dates(state, rec, "date_completed", "date_paid"),
        "cart_hash": "", "number": rec["number"], "meta_data": _meta(rec),
        "line_items": line_items, "tax_lines": rec["tax_lines"],
        "shipping_lines": _money_lines(rec["shipping_lines"], ("total", "total_tax")),
        "fee_lines": _money_lines(rec["fee_lines"], ("total", "total_tax")),
        "coupon_lines": _money_lines(rec["coupon_lines"], ("discount", "discount_tax")),
        "refunds": rec["refunds"], "payment_url": "", "is_editable": rec["status"] in ("pending", "on-hold"),
        "needs_payment": rec["status"] in ("pending", "failed"), "needs_processing": True,
        "currency_symbol": "£" if rec["currency"] == "GBP" else rec["currency"],
    }


def customer_json(state: StoreState, rec: dict[str, Any]) -> dict[str, Any]:
    """A customer (WP user with the ``customer`` role)."""
    return {
        "id": rec["id"], **_dates(state, rec, "date_created", "date_modified"), "email": rec["email"],
        "first_name": rec["first_name"], "last_name": rec["last_name"], "role": rec["role"],
        "username": rec["username"], "billing": dict(rec["billing"]), "shipping": dict(rec["shipping"]),
        "is_paying_customer": rec["is_paying_customer"], "avatar_url": "https://secure.gravatar.com/avatar/?s=96",
        "meta_data": _meta(rec, hide_protected=True),
    }
