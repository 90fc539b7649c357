//! Conflict records: every value a merge overrode or doubled, so that nothing is lost.
//!
//! A record's id is derived from its content and does not depend on which side was ours,
//! so two machines that make the same decision write one record.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The rule that decided a collision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The side whose enclosing object carries the later timestamp (`field`) won.
    Newer { field: String },
    /// No timestamp decided: the value that sorts last won.
    Canonical,
    /// One side deleted what the other changed: the change stays.
    ModifyBeatsDelete,
    /// The configured `ours`/`theirs` policy chose.
    Policy(&'static str),
    /// Both versions were kept, one after the other.
    KeepBoth,
    /// Conflict markers were left for a person.
    Markers,
}

impl Rule {
    pub fn name(&self) -> String {
        match self {
            Rule::Newer { field } => format!("newer-{field}"),
            Rule::Canonical => "canonical-order".into(),
            Rule::ModifyBeatsDelete => "modify-beats-delete".into(),
            Rule::Policy(p) => format!("policy-{p}"),
            Rule::KeepBoth => "keep-both".into(),
            Rule::Markers => "markers".into(),
        }
    }
}

/// One overridden value. `None` means "absent on that side" (deleted or never there).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub path: String,
    /// Where in the file: a JSON pointer into the merged document, or a record identity.
    pub location: String,
    pub base: Option<Value>,
    pub ours: Option<Value>,
    pub theirs: Option<Value>,
    pub chosen: Option<Value>,
    pub rule: Rule,
}

impl Record {
    /// A content-derived id, the same whichever side was ours.
    pub fn id(&self) -> String {
        let text = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        let (mut a, mut b) = (text(&self.ours), text(&self.theirs));
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        let mut h = Sha256::new();
        for part in [
            self.path.as_str(),
            &self.location,
            &text(&self.base),
            &a,
            &b,
            &text(&self.chosen),
            &self.rule.name(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize()[..10]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The journal line for this record (without the time and machine, which the caller adds).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id()));
        m.insert("path".into(), json!(self.path));
        m.insert("location".into(), json!(self.location));
        for (name, v) in [
            ("base", &self.base),
            ("ours", &self.ours),
            ("theirs", &self.theirs),
            ("chosen", &self.chosen),
        ] {
            if let Some(v) = v {
                m.insert(name.into(), v.clone());
            }
        }
        m.insert("rule".into(), json!(self.rule.name()));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_does_not_depend_on_the_side() {
        let r = Record {
            path: "m.json".into(),
            location: "/a".into(),
            base: Some(json!(1)),
            ours: Some(json!(2)),
            theirs: Some(json!(3)),
            chosen: Some(json!(3)),
            rule: Rule::Canonical,
        };
        let mut swapped = r.clone();
        std::mem::swap(&mut swapped.ours, &mut swapped.theirs);
        assert_eq!(r.id(), swapped.id());
        let mut other = r.clone();
        other.location = "/b".into();
        assert_ne!(r.id(), other.id());
    }
}
