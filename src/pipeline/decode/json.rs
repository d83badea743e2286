//! A JSON message → the text of each mapped field, in one pass.
//!
//! A pipeline's paths are compiled once into a tree. Each message is then
//! walked by serde_json's streaming deserializer, which descends only into
//! keys on some path and skips everything else without building values.
//! Strings without escapes, numbers, booleans and nested documents are
//! borrowed from the payload as written, so a field costs no allocation:
//! building a `serde_json::Value` per message (one allocation per key and
//! value) was most of a pipeline's CPU time.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A field's value in one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found<'m> {
    /// The text of the value (`None` for JSON `null`).
    pub value: Option<Cow<'m, str>>,
    /// 0: not in the message; 1: found by a key differing in ASCII case; 2:
    /// found by exact keys. Column names fold to lower case and JSON keys
    /// often do not, so a key in another case is used when no exact one is.
    rank: u8,
}

impl Found<'_> {
    /// Whether the path is absent from the message (its DEFAULT applies).
    pub fn is_missing(&self) -> bool {
        self.rank == 0
    }
}

/// The paths of a pipeline's fields, as a tree of keys from the root.
#[derive(Debug, Clone, Default)]
pub struct PathTree {
    root: Node,
    fields: usize,
    /// Fields mapped to the whole message (an empty path).
    whole: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// The fields whose path ends here.
    fields: Vec<usize>,
    /// Object keys (or array indexes, in decimal) one level down.
    children: Vec<(String, Node)>,
}

impl Node {
    fn child_mut(&mut self, key: &str) -> &mut Node {
        let at = match self.children.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.children.push((key.to_string(), Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    /// The child for `key` and how it matched (2 exact, 1 in another case).
    fn child(&self, key: &str) -> Option<(&Node, u8)> {
        if let Some((_, node)) = self.children.iter().find(|(k, _)| k == key) {
            return Some((node, 2));
        }
        self.children
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, node)| (node, 1))
    }

    fn index(&self, index: usize) -> Option<&Node> {
        self.children
            .iter()
            .find(|(k, _)| k.parse::<usize>().ok() == Some(index))
            .map(|(_, node)| node)
    }
}

impl PathTree {
    /// Field `i` is read from `paths[i]`.
    pub fn new(paths: &[Vec<String>]) -> Self {
        let mut tree = PathTree {
            fields: paths.len(),
            ..PathTree::default()
        };
        for (field, path) in paths.iter().enumerate() {
            if path.is_empty() {
                tree.whole.push(field);
                continue;
            }
            let mut node = &mut tree.root;
            for key in path {
                node = node.child_mut(key);
            }
            node.fields.push(field);
        }
        tree
    }

    /// Fill `out` (one entry per field) from the JSON document `text`, or
    /// say why the message is not one a row can come from.
    pub fn extract<'m>(&self, text: &'m str, out: &mut Vec<Found<'m>>) -> Result<(), String> {
        out.clear();
        out.resize(self.fields, Found::default());
        for &field in &self.whole {
            out[field] = Found {
                value: Some(Cow::Borrowed(text.trim())),
                rank: 2,
            };
        }
        let first = text.trim_start().as_bytes().first().copied();
        if self.root.children.is_empty() || first != Some(b'{') {
            // Nothing to look up (or nothing to look it up in): the message
            // only has to be valid JSON, and an object when paths are mapped.
            serde_json::from_str::<IgnoredAny>(text).map_err(invalid)?;
            if self.root.children.is_empty() {
                return Ok(());
            }
            return Err(format!("expected a JSON object, found {}", kind_of(first)));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        NodeSeed {
            node: &self.root,
            out,
            rank: 2,
        }
        .deserialize(&mut de)
        .map_err(invalid)?;
        de.end().map_err(invalid)
    }
}

fn invalid(e: serde_json::Error) -> String {
    format!("invalid JSON: {e}")
}

fn kind_of(first: Option<u8>) -> &'static str {
    match first {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A value's text: strings unquoted (unescaped only when they hold
/// escapes), `null` as none, anything else as written in the message.
fn value_text(raw: &RawValue) -> Result<Option<Cow<'_, str>>, serde_json::Error> {
    let text = raw.get().trim();
    Ok(match text.as_bytes().first() {
        Some(b'"') if !text.contains('\\') => Some(Cow::Borrowed(&text[1..text.len() - 1])),
        Some(b'"') => Some(Cow::Owned(serde_json::from_str::<String>(text)?)),
        Some(b'n') => None,
        _ => Some(Cow::Borrowed(text)),
    })
}

/// Reads the value at one node of the tree.
struct NodeSeed<'t, 'o, 'm> {
    node: &'t Node,
    out: &'o mut Vec<Found<'m>>,
    /// The weakest key match on the way here.
    rank: u8,
}

impl<'m> DeserializeSeed<'m> for NodeSeed<'_, '_, 'm> {
    type Value = ();

    fn deserialize<D: Deserializer<'m>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.node.fields.is_empty() {
            return deserializer.deserialize_any(self);
        }
        // A mapped value is kept as written; when deeper paths start here
        // too, the same text is walked again for them.
        let raw = <&'m RawValue>::deserialize(deserializer)?;
        let value = value_text(raw).map_err(de::Error::custom)?;
        for &field in &self.node.fields {
            if self.rank >= self.out[field].rank {
                self.out[field] = Found {
                    value: value.clone(),
                    rank: self.rank,
                };
            }
        }
        if self.node.children.is_empty() {
            return Ok(());
        }
        let mut inner = serde_json::Deserializer::from_str(raw.get());
        inner
            .deserialize_any(NodeSeed {
                node: self.node,
                out: self.out,
                rank: self.rank,
            })
            .map_err(de::Error::custom)
    }
}

impl<'m> Visitor<'m> for NodeSeed<'_, '_, 'm> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'m>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.node.child(&key) {
                Some((node, rank)) => map.next_value_seed(NodeSeed {
                    node,
                    out: &mut *self.out,
                    rank: rank.min(self.rank),
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'m>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let more = match self.node.index(index) {
                Some(node) => seq
                    .next_element_seed(NodeSeed {
                        node,
                        out: &mut *self.out,
                        rank: self.rank,
                    })?
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // A scalar where the paths expect an object: the paths below are missing.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the message unless it holds escapes.
struct KeySeed;

impl<'m> DeserializeSeed<'m> for KeySeed {
    type Value = Cow<'m, str>;

    fn deserialize<D: Deserializer<'m>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'m> Visitor<'m> for KeySeed {
    type Value = Cow<'m, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, key: &'m str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> PathTree {
        PathTree::new(
            &list
                .iter()
                .map(|p| {
                    if p.is_empty() {
                        vec![]
                    } else {
                        p.split("::").map(str::to_string).collect()
                    }
                })
                .collect::<Vec<_>>(),
        )
    }

    fn texts(tree: &PathTree, message: &str) -> Result<Vec<Option<String>>, String> {
        let mut out = Vec::new();
        tree.extract(message, &mut out)?;
        Ok(out
            .iter()
            .map(|f| {
                if f.is_missing() {
                    Some("<missing>".to_string())
                } else {
                    f.value.as_deref().map(str::to_string)
                }
            })
            .collect())
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn nested_paths_arrays_and_values_as_written() {
        let tree = paths(&[
            "id",
            "a::city",
            "a",
            "tags::1",
            "n",
            "flag",
            "gone",
            "a::zip::x",
        ]);
        let out = texts(
            &tree,
            r#"{"skip": {"deep": [1, {"x": 2}]}, "id": 17, "a": {"city": "Oslo", "zip": 5},
                "tags": ["x", "y\"z"], "n": 1.50e3, "flag": true}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            some(&[
                "17",
                "Oslo",
                r#"{"city": "Oslo", "zip": 5}"#,
                "y\"z",
                "1.50e3",
                "true",
                "<missing>",
                "<missing>"
            ])
        );
    }

    #[test]
    fn exact_key_beats_other_case_and_null_is_not_missing() {
        let tree = paths(&["id", "name"]);
        assert_eq!(
            texts(&tree, r#"{"ID": 1, "id": 2, "Name": null}"#).unwrap(),
            vec![Some("2".into()), None]
        );
        assert_eq!(
            texts(&tree, r#"{"id": 2, "ID": 1}"#).unwrap()[0],
            Some("2".into())
        );
    }

    #[test]
    fn whole_message_and_malformed_documents() {
        let tree = paths(&["", "k"]);
        assert_eq!(
            texts(&tree, " {\"k\": \"v\"} \n").unwrap(),
            some(&["{\"k\": \"v\"}", "v"])
        );
        for (message, reason) in [
            ("{\"k\": 1", "invalid JSON"),
            ("{\"k\": 1} trailing", "invalid JSON"),
            ("{\"k\": tru}", "invalid JSON"),
            ("[1, 2]", "expected a JSON object, found an array"),
            ("\"text\"", "expected a JSON object, found a string"),
            ("42", "expected a JSON object, found a number"),
            ("[1, 2", "invalid JSON"),
        ] {
            let err = texts(&tree, message).unwrap_err();
            assert!(err.starts_with(reason), "{message}: {err}");
        }
        // Skipped values are walked without recursion, so depth costs no stack.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(texts(&paths(&[""]), &deep).is_ok());
        assert_eq!(
            texts(&tree, &format!("{{\"x\": {deep}, \"k\": 1}}")).unwrap()[1],
            Some("1".into())
        );
    }
}
