//! A catalog order added to the cart the session holds.

use crate::model::{CartItem, Quantity, limits};

/// `cart` with `order`'s items added: an SKU already there takes the order's quantity on
/// top of its own (up to the per-item limit) and the order's price and currency (the
/// catalog's latest); new SKUs go at the end, while the cart has room. What did not fit
/// is logged: the order's message in the chat still lists every item.
pub fn add_order(cart: &[CartItem], order: &[CartItem]) -> Vec<CartItem> {
    let mut merged = cart.to_vec();
    for item in order {
        if let Some(held) = merged.iter_mut().find(|held| held.sku == item.sku) {
            let sum = u32::from(held.quantity).saturating_add(u32::from(item.quantity));
            if sum > limits::QUANTITY_MAX {
                tracing::warn!("an order's quantity went past the cart's limit per item; capped");
            }
            // In range by construction: both were at least 1.
            if let Ok(quantity) = Quantity::try_from(sum.min(limits::QUANTITY_MAX)) {
                held.quantity = quantity;
            }
            held.price = item.price;
            held.currency = item.currency.clone();
        } else if merged.len() < limits::CART_ITEMS {
            merged.push(item.clone());
        } else {
            tracing::warn!("the cart is full; an ordered item was not added to it");
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, quantity: u32, price: f64, currency: Option<&str>) -> CartItem {
        serde_json::from_value(serde_json::json!({
            "sku": sku, "quantity": quantity, "price": price, "currency": currency,
        }))
        .unwrap()
    }

    #[test]
    fn an_order_adds_to_the_same_skus_and_appends_new_ones() {
        let cart = vec![item("A", 2, 10.0, None), item("B", 1, 5.0, None)];
        let order = vec![
            item("B", 3, 4.5, Some("INR")),
            item("C", 1, 1.0, Some("INR")),
        ];
        let merged = add_order(&cart, &order);
        assert_eq!(
            merged,
            vec![
                item("A", 2, 10.0, None),
                item("B", 4, 4.5, Some("INR")),
                item("C", 1, 1.0, Some("INR")),
            ]
        );
        let capped = add_order(&[item("A", 998, 1.0, None)], &[item("A", 5, 1.0, None)]);
        assert_eq!(u32::from(capped[0].quantity), limits::QUANTITY_MAX);
    }

    #[test]
    fn a_full_cart_takes_only_what_it_holds() {
        let cart: Vec<CartItem> = (0..limits::CART_ITEMS)
            .map(|i| item(&format!("S{i}"), 1, 1.0, None))
            .collect();
        let merged = add_order(
            &cart,
            &[item("S0", 1, 1.0, None), item("NEW", 1, 1.0, None)],
        );
        assert_eq!(merged.len(), limits::CART_ITEMS);
        assert_eq!(u32::from(merged[0].quantity), 2);
    }
}
