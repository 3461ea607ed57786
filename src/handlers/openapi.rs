//! The OpenAPI document as the build assembles it (`scripts/openapi.mjs`): the head in
//! `src/handlers/openapi.json` and one part per concern beside its code. Tests read it here and
//! hold it to the route table; the worker serves the assembled file as a static asset.

use serde_json::{Map, Value};

fn read(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The assembled document; panics (in a test) when a part is unreadable or describes an
/// operation or schema that another part already does.
pub fn document() -> Value {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut doc = read(&src.join("handlers/openapi.json"));
    let mut paths = Map::new();
    let mut concerns: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir() && e.file_name() != "handlers")
        .map(|e| e.path().join("openapi.json"))
        .filter(|p| p.exists())
        .collect();
    concerns.sort();
    for file in concerns {
        merge(&mut doc, &mut paths, read(&file));
    }
    doc["paths"] = Value::Object(paths);
    doc
}

/// Adds a part's operations and schemas, each of which must be new.
fn merge(doc: &mut Value, paths: &mut Map<String, Value>, part: Value) {
    {
        for (path, operations) in part["paths"].as_object().into_iter().flatten() {
            let entry = paths
                .entry(path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            for (method, operation) in operations.as_object().unwrap() {
                let previous = entry
                    .as_object_mut()
                    .unwrap()
                    .insert(method.clone(), operation.clone());
                assert!(previous.is_none(), "{method} {path} is described twice");
            }
        }
        let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
        for (name, schema) in part["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(
                schemas.insert(name.clone(), schema.clone()).is_none(),
                "schema {name} twice"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::document;
    use crate::handlers::routes::ROUTES;

    /// The OpenAPI document and the route table list the same methods and paths, so neither
    /// can drift from the other.
    #[test]
    fn openapi_document_matches_the_route_table() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| format!("{} {path}", m.to_uppercase()))
            })
            .collect();
        let mut routed: Vec<String> = ROUTES
            .iter()
            .map(|row| format!("{} {}", row.method, row.pattern))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        // Every $ref points at a schema that exists.
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }

    /// A route that needs a key says so in the document, and a public one does not.
    #[test]
    fn documented_security_follows_the_table() {
        let doc = document();
        for row in ROUTES {
            let op = &doc["paths"][row.pattern][row.method.to_lowercase()];
            let public = op["security"].as_array().is_some_and(|s| s.is_empty());
            assert_eq!(public, row.scope().is_none(), "{row:?}");
        }
    }
}
