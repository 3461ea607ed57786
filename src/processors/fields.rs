//! An event's top-level fields while normalisation takes them apart.
//!
//! An event has a handful of keys, and normalisation asks for each known one once or twice
//! (present or not) and removes what it takes. In `serde_json::Map` (a BTreeMap) those
//! lookups and removals were about a tenth of the pipeline's instructions (callgrind); a short
//! vector scanned linearly, comparing lengths first, does the same for a fraction.

use serde_json::{Map, Value};

pub struct Fields(Vec<(String, Value)>);

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Fields(map.into_iter().collect())
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.0[i].1)
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.0.swap_remove(i).1)
    }

    /// Sets `key`, returning the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Sets `key` only when it is absent.
    pub fn insert_if_absent(&mut self, key: String, value: Value) {
        if !self.contains_key(&key) {
            self.0.push((key, value));
        }
    }
}

impl IntoIterator for Fields {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn behaves_as_a_map() {
        let Value::Object(map) = json!({"a": 1, "b": "x", "c": null}) else {
            unreachable!()
        };
        let mut f = Fields::new(map);
        assert!(f.contains_key("a") && !f.contains_key("ab") && !f.contains_key(""));
        assert_eq!(f.get("b"), Some(&json!("x")));
        assert_eq!(f.insert("a".into(), json!(2)), Some(json!(1)));
        assert_eq!(f.insert("d".into(), json!(4)), None);
        f.insert_if_absent("d".into(), json!(5));
        f.insert_if_absent("e".into(), json!(6));
        assert_eq!(f.remove("b"), Some(json!("x")));
        assert_eq!(f.remove("b"), None);
        *f.get_mut("c").unwrap() = json!(3);
        let mut rest: Vec<(String, Value)> = f.into_iter().collect();
        rest.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            rest,
            vec![
                ("a".into(), json!(2)),
                ("c".into(), json!(3)),
                ("d".into(), json!(4)),
                ("e".into(), json!(6))
            ]
        );
    }
}
