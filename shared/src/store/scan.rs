//! A filtered `Scan` of a whole table, in parallel segments: for what cannot be found by
//! key. It reads every item of the table, so it is kept for rare work that its caller
//! bounds: an erasure's sweep, and `omnisession-admin kiosk revoke`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, Store, StoreError, StoreResult, classify};

/// Scan segments read at once.
const SCAN_SEGMENTS: i32 = 4;

impl Store {
    /// The `projection` of every item of the table `name` that `filter` (over `values`)
    /// keeps, read consistently, page by page.
    pub(super) async fn scan_filtered(
        &self,
        name: &str,
        filter: &str,
        values: HashMap<String, AttributeValue>,
        projection: &str,
    ) -> StoreResult<Vec<Item>> {
        let segments = (0..SCAN_SEGMENTS).map(|segment| {
            let values = values.clone();
            async move {
                let mut items = Vec::new();
                let mut start = None;
                loop {
                    let page = self
                        .db
                        .scan()
                        .table_name(name)
                        .segment(segment)
                        .total_segments(SCAN_SEGMENTS)
                        .filter_expression(filter)
                        .set_expression_attribute_values(Some(values.clone()))
                        .projection_expression(projection)
                        .consistent_read(true)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(classify)?;
                    items.extend(page.items.unwrap_or_default());
                    start = page.last_evaluated_key;
                    if start.is_none() {
                        return Ok::<_, StoreError>(items);
                    }
                }
            }
        });
        let found: Vec<Vec<Item>> = futures::future::try_join_all(segments).await?;
        Ok(found.into_iter().flatten().collect())
    }
}
