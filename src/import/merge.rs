//! The OCDS merge routine (OCDS 1.1, "Merging"; what `ocdskit compile` does for
//! individual releases): the releases of one contracting process, in date order, folded
//! into its compiled release. Pure.
//!
//! - an object is merged field by field; a later release's field replaces an earlier one;
//!   a field set to `null` is removed;
//! - an array of objects is merged by id: an item with an id seen before is merged into
//!   that item, a new id (or an item without id) is appended (ids compare as written: `1`
//!   and `"1"` differ, as in the reference implementation, `ocdsmerge`);
//! - an array holding anything but objects replaces the earlier one whole;
//! - an empty object or array states nothing: it neither adds nor replaces;
//! - the releases' own `id`, `date` and `tag` are not merged: the compiled release gets
//!   `tag` `["compiled"]`, the latest `date`, and `id` `<ocid>-<date>`.

use serde_json::{Map, Value};

/// Merges `later` into `target` (both objects).
fn merge_object(target: &mut Map<String, Value>, later: &Map<String, Value>) {
    for (k, v) in later {
        match v {
            Value::Null => {
                target.remove(k);
            }
            // An empty object or array states nothing (the reference implementation
            // neither records nor replaces with it).
            Value::Object(o) if o.is_empty() => {}
            Value::Array(items) if items.is_empty() => {}
            Value::Object(o) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(t) = slot {
                    merge_object(t, o);
                }
            }
            Value::Array(items) if items.iter().all(Value::is_object) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let mergeable = match slot {
                    Value::Array(a) => a.iter().all(Value::is_object),
                    _ => false,
                };
                if !mergeable {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(existing) = slot {
                    for item in items {
                        let Some(o) = item.as_object() else { continue };
                        // Merged into the item with the same id; an item without id is
                        // never the same as another (appended).
                        let same = o.get("id").and_then(|id| {
                            existing
                                .iter_mut()
                                .find(|e| e.get("id") == Some(id))
                                .and_then(Value::as_object_mut)
                        });
                        match same {
                            Some(e) => merge_object(e, o),
                            None => {
                                let mut fresh = Map::new();
                                merge_object(&mut fresh, o);
                                existing.push(Value::Object(fresh));
                            }
                        }
                    }
                }
            }
            // A value, or an array holding a value that is not an object: replaced whole,
            // as published.
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

/// The compiled release of one process from its releases (any order: sorted here by
/// `date`, ties in the order given).
pub fn compile(mut releases: Vec<(Option<String>, Value)>) -> Value {
    releases.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Map::new();
    let mut ocid = None;
    let mut date = None;
    for (d, r) in &releases {
        let Value::Object(o) = r else { continue };
        let mut body = o.clone();
        body.remove("id");
        body.remove("date");
        body.remove("tag");
        if let Some(x) = o.get("ocid").and_then(Value::as_str) {
            ocid = Some(x.to_owned());
        }
        if d.is_some() {
            date.clone_from(d);
        }
        merge_object(&mut out, &body);
    }
    if let Some(d) = &date {
        out.insert("date".to_owned(), Value::String(d.clone()));
        out.insert(
            "id".to_owned(),
            Value::String(format!("{}-{d}", ocid.unwrap_or_default())),
        );
    }
    out.insert(
        "tag".to_owned(),
        Value::Array(vec![Value::String("compiled".to_owned())]),
    );
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_fields_win_nulls_remove_and_ids_merge() {
        let tender = json!({"ocid": "o-1", "id": "1", "date": "2020-01-01T00:00:00Z", "tag": ["tender"],
            "tender": {"id": "t", "title": "Pens", "status": "active", "value": {"amount": 10, "currency": "EUR"},
                       "items": [{"id": "i1", "quantity": 1}]},
            "parties": [{"id": "b", "name": "Buyer", "roles": ["buyer"]}]});
        let award = json!({"ocid": "o-1", "id": "2", "date": "2020-02-01T00:00:00Z", "tag": ["award"],
            "tender": {"id": "t", "status": "complete", "value": null, "items": [{"id": "i1", "unit": {"name": "box"}}]},
            "awards": [{"id": "a1", "status": "active"}],
            "parties": [{"id": "b", "roles": ["buyer", "payer"]}, {"id": "s", "name": "Supplier", "roles": ["supplier"]}]});
        // Given out of date order: sorted first.
        let c = compile(vec![
            (Some("2020-02-01T00:00:00Z".to_owned()), award),
            (Some("2020-01-01T00:00:00Z".to_owned()), tender),
        ]);
        assert_eq!(c["tender"]["title"], "Pens");
        assert_eq!(c["tender"]["status"], "complete");
        assert!(c["tender"].get("value").is_none());
        assert_eq!(
            c["tender"]["items"],
            json!([{"id": "i1", "quantity": 1, "unit": {"name": "box"}}])
        );
        assert_eq!(c["parties"][0]["name"], "Buyer");
        assert_eq!(c["parties"][0]["roles"], json!(["buyer", "payer"]));
        assert_eq!(c["parties"][1]["name"], "Supplier");
        assert_eq!(c["tag"], json!(["compiled"]));
        assert_eq!(c["date"], "2020-02-01T00:00:00Z");
        assert_eq!(c["id"], "o-1-2020-02-01T00:00:00Z");
    }

    /// Each fixture publisher's releases, compiled here and by `ocdskit compile` (the
    /// reference implementation, output committed in tests/fixtures/ocds/compiled).
    #[test]
    fn the_same_compiled_releases_as_ocdskit_on_real_publications() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds");
        for publisher in ["paraguay-dncp", "ukraine-prozorro", "mexico-inai"] {
            let mut by_ocid: std::collections::BTreeMap<String, Vec<(Option<String>, Value)>> =
                std::collections::BTreeMap::new();
            let mut files: Vec<_> = std::fs::read_dir(root.join("real").join(publisher))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                let r: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                by_ocid
                    .entry(r["ocid"].as_str().unwrap().to_owned())
                    .or_default()
                    .push((r["date"].as_str().map(str::to_owned), r));
            }
            let reference =
                std::fs::read_to_string(root.join(format!("compiled/{publisher}.ocdskit.jsonl")))
                    .unwrap();
            let mut n = 0;
            for line in reference.lines() {
                let expected: Value = serde_json::from_str(line).unwrap();
                let ocid = expected["ocid"].as_str().unwrap();
                let ours = compile(by_ocid.remove(ocid).unwrap());
                assert_eq!(ours, expected, "{publisher} {ocid}");
                n += 1;
            }
            assert!(n >= 1 && by_ocid.is_empty(), "{publisher}: {by_ocid:?}");
        }
    }
}
