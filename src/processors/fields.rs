//! An event's top-level fields while normalisation takes them apart.
//!
//! An event has a handful of keys, and normalisation asks for each known one once or twice
//! (present or not) and removes what it takes. In `serde_json::Map` (a BTreeMap) those
//! lookups and removals were about a tenth of the pipeline's instructions (callgrind); a short
//! vector scanned linearly, comparing lengths first, does the same for a fraction.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Fields(Vec<(String, Value)>);

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Fields(map.into_iter().collect())
    }

    /// Empty, with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Fields(Vec::with_capacity(n))
    }

    /// Adds a field known not to be there yet (a mapper that sets each key once).
    pub fn push(&mut self, key: &str, value: Value) {
        debug_assert!(!self.contains_key(key), "{key} set twice");
        self.0.push((key.to_string(), value));
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// From parsed entries: a JSON object may repeat a key, and like serde_json's map the
    /// last one wins.
    pub(crate) fn from_entries(entries: Vec<(String, Value)>) -> Self {
        if !has_repeats(&entries) {
            return Fields(entries);
        }
        let mut keys = HashSet::with_capacity(entries.len());
        let mut kept: Vec<(String, Value)> = entries.into_iter().rev().collect();
        kept.retain(|(key, _)| keys.insert(key.clone()));
        Fields(kept)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
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

/// Whether a key repeats: pairwise for an ordinary event (no allocation), with a set past a
/// few keys, so a body of thousands of keys stays linear.
fn has_repeats(entries: &[(String, Value)]) -> bool {
    if entries.len() <= 16 {
        return (1..entries.len()).any(|i| entries[..i].iter().any(|(k, _)| *k == entries[i].0));
    }
    let mut seen = HashSet::with_capacity(entries.len());
    !entries.iter().all(|(key, _)| seen.insert(key.as_str()))
}

impl IntoIterator for Fields {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One event as parsed from a body: an object read straight into [`Fields`] (no map built
/// only to be taken apart), anything else as a `Value` for normalisation to refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum EventJson {
    Object(Fields),
    Other(Value),
}

impl<'de> Deserialize<'de> for EventJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EventJsonVisitor)
    }
}

struct EventJsonVisitor;

impl<'de> Visitor<'de> for EventJsonVisitor {
    type Value = EventJson;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventJson, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(entry) = map.next_entry::<String, Value>()? {
            entries.push(entry);
        }
        Ok(EventJson::Object(Fields::from_entries(entries)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<EventJson, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(EventJson::Other)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<EventJson, E> {
        Ok(EventJson::Other(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_parse_as_serde_json_would_parse_them() {
        for text in [
            r#"{"message":"a","level":"warn","message":"b"}"#,
            r#"{"a":1,"b":{"c":[1,2,{"d":null}]},"e":-2,"f":1.5,"g":true}"#,
            r#"{}"#,
            r#"[1,{"a":2}]"#,
            r#""text""#,
            "12",
            "-3",
            "1.25",
            "null",
            "false",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            let parsed = match serde_json::from_str::<EventJson>(text).unwrap() {
                EventJson::Object(fields) => Value::Object(fields.into_iter().collect()),
                EventJson::Other(value) => value,
            };
            assert_eq!(parsed, expected, "{text}");
        }
        let many: String = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!(r#""k{}":{i}"#, i % 40))
                .collect::<Vec<_>>()
                .join(",")
        );
        let expected: Value = serde_json::from_str(&many).unwrap();
        let EventJson::Object(fields) = serde_json::from_str::<EventJson>(&many).unwrap() else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(fields.into_iter().collect()),
            expected,
            "the last repeat wins"
        );
    }

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
