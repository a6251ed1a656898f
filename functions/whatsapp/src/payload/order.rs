//! A catalog order (`type: "order"`): a line in the chat, and its items for the cart.
//!
//! Meta's shape (Cloud API, "Order messages webhook reference"):
//! `order: {catalog_id, text?, product_items: [{product_retailer_id, quantity,
//! item_price, currency}]}`, `item_price` a number in the currency's units (`499.5`
//! rupees, not paise). Numbers sent as strings are read too.

use omnisession::model::{CartItem, Currency, Price, Quantity, Sku};
use serde::Deserialize;
use serde_json::Value;

#[derive(Default, Deserialize)]
struct Order {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    product_items: Vec<Value>,
}

#[derive(Default, Deserialize)]
struct ProductItem {
    #[serde(default)]
    product_retailer_id: Option<String>,
    #[serde(default)]
    quantity: Option<Value>,
    #[serde(default)]
    item_price: Option<Value>,
    #[serde(default)]
    currency: Option<String>,
}

/// The chat line and the cart items of an order (`None`: no `order` object at all).
/// An item we cannot take (a bad SKU, quantity, price or currency) stays out of the
/// cart and the line says so, never silently.
pub(super) fn read(order: Option<&Value>) -> (String, Vec<CartItem>) {
    let order: Order = order
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let mut items = Vec::new();
    let mut lines = Vec::new();
    let mut refused = Vec::new();
    for (i, raw) in order.product_items.iter().enumerate() {
        let raw: ProductItem = serde_json::from_value(raw.clone()).unwrap_or_default();
        match cart_item(&raw) {
            Ok(item) => {
                lines.push(format!(
                    "{} × {} at {:.2}{}",
                    u32::from(item.quantity),
                    item.sku.as_str(),
                    f64::from(item.price),
                    item.currency
                        .as_ref()
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default()
                ));
                items.push(item);
            }
            Err(why) => refused.push(format!("item {} ({why})", i + 1)),
        }
    }
    let count = order.product_items.len();
    let mut text = format!("[order] {count} item{}", if count == 1 { "" } else { "s" });
    if !lines.is_empty() {
        text.push_str(": ");
        text.push_str(&lines.join(", "));
    }
    if !refused.is_empty() {
        text.push_str("; not added to the cart: ");
        text.push_str(&refused.join(", "));
    }
    if let Some(note) = order.text.filter(|t| !t.trim().is_empty()) {
        text.push('\n');
        text.push_str(&note);
    }
    (text, items)
}

fn cart_item(raw: &ProductItem) -> Result<CartItem, String> {
    let sku = raw
        .product_retailer_id
        .clone()
        .ok_or_else(|| "no product_retailer_id".to_string())
        .and_then(|id| Sku::try_from(id).map_err(|e| format!("SKU {e}")))?;
    let quantity = raw
        .quantity
        .as_ref()
        .and_then(number)
        .filter(|q| q.fract() == 0.0 && *q >= 0.0 && *q <= f64::from(u32::MAX))
        .ok_or_else(|| "quantity must be a whole number".to_string())
        .and_then(|q| Quantity::try_from(q as u32).map_err(|e| format!("quantity {e}")))?;
    let price = raw
        .item_price
        .as_ref()
        .and_then(number)
        .ok_or_else(|| "no item_price".to_string())
        .and_then(|p| Price::try_from(p).map_err(|e| format!("price {e}")))?;
    let currency = raw
        .currency
        .clone()
        .ok_or_else(|| "no currency".to_string())
        .and_then(|c| Currency::try_from(c).map_err(|e| format!("currency {e}")))?;
    Ok(CartItem {
        sku,
        quantity,
        price,
        currency: Some(currency),
    })
}

/// A JSON number, or a string holding one.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_order_lists_its_items_and_takes_those_it_can() {
        let order = json!({"catalog_id": "1234", "text": "gift wrap please", "product_items": [
            {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 499.5, "currency": "INR"},
            {"product_retailer_id": "SKU-2", "quantity": "1", "item_price": "100", "currency": "INR"},
            {"product_retailer_id": "SKU-3", "quantity": 0, "item_price": 1, "currency": "INR"},
            {"product_retailer_id": "SKU-4", "quantity": 1, "item_price": 1.234, "currency": "KWD"},
            {"quantity": 1, "item_price": 1, "currency": "INR"}
        ]});
        let (text, items) = read(Some(&order));
        assert_eq!(
            text,
            "[order] 5 items: 2 × SKU-1 at 499.50 INR, 1 × SKU-2 at 100.00 INR; \
             not added to the cart: item 3 (quantity must be from 1 to 999), \
             item 4 (price must be a number from 0 to 1000000000 with at most 2 decimal places), \
             item 5 (no product_retailer_id)\ngift wrap please"
        );
        assert_eq!(items.len(), 2);
        assert_eq!(f64::from(items[0].price), 499.5);
        assert_eq!(u32::from(items[0].quantity), 2);
        assert_eq!(
            items[1].currency.clone().map(String::from).as_deref(),
            Some("INR")
        );
    }

    #[test]
    fn an_empty_or_malformed_order_is_still_a_visible_line() {
        assert_eq!(read(None).0, "[order] 0 items");
        assert_eq!(
            read(Some(&json!({"product_items": "x"}))).0,
            "[order] 0 items"
        );
        let (text, items) = read(Some(
            &json!({"product_items": [{"product_retailer_id": "A", "quantity": 1, "item_price": 5, "currency": "inr"}]}),
        ));
        assert!(items.is_empty());
        assert!(text.contains("item 1 (currency must be"), "{text}");
    }
}
