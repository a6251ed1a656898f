//! Consumed capacity as DynamoDB reports it (`ReturnConsumedCapacity: INDEXES`).
//!
//! DynamoDB Local does report it, with the real rules: 4 KB read units (0.5 for an
//! eventually consistent read), 1 KB write units, twice that inside a transaction, and a
//! write to the table's GSI when a projected attribute changes. On-demand tables bill
//! exactly these units as request units (RRU/WRU). A call that fails (a condition that did
//! not hold) gets an error body without capacity; those are counted apart.

use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Capacity {
    pub read: f64,
    pub write: f64,
    /// The part of `read + write` spent on global secondary indexes.
    pub index: f64,
}

impl Capacity {
    pub fn add(&mut self, other: Capacity) {
        self.read += other.read;
        self.write += other.write;
        self.index += other.index;
    }
}

/// Reads `ConsumedCapacity` (one object, or a list for batch and transaction calls).
/// `CapacityUnits` counts everything; it is split into read or write by the operation.
pub fn from_response(body: &Value, is_read: bool) -> Option<Capacity> {
    let consumed = body.get("ConsumedCapacity")?;
    let entries: Vec<&Value> = match consumed {
        Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut total = Capacity::default();
    for entry in entries {
        let units = entry["CapacityUnits"].as_f64().unwrap_or(0.0);
        let index: f64 = ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]
            .iter()
            .filter_map(|k| entry[*k].as_object())
            .flat_map(|m| m.values())
            .filter_map(|v| v["CapacityUnits"].as_f64())
            .sum();
        if is_read {
            total.read += units;
        } else {
            total.write += units;
        }
        total.index += index;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_and_listed_capacity_is_summed_with_its_index_share() {
        let single = json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 2.0,
            "Table": {"CapacityUnits": 1.0}, "GlobalSecondaryIndexes": {"g": {"CapacityUnits": 1.0}}}});
        assert_eq!(
            from_response(&single, false),
            Some(Capacity {
                read: 0.0,
                write: 2.0,
                index: 1.0
            })
        );
        let listed = json!({"ConsumedCapacity": [{"TableName": "a", "CapacityUnits": 1.0},
            {"TableName": "b", "CapacityUnits": 0.5}]});
        assert_eq!(
            from_response(&listed, true),
            Some(Capacity {
                read: 1.5,
                write: 0.0,
                index: 0.0
            })
        );
        assert_eq!(from_response(&json!({"Item": {}}), true), None);
    }
}
