//! Schema fingerprints: what a class looked like when it was backed up
//! (its shape, as `#[derive(Storable)]` read it from the source), compared
//! with the type this program registers. Records may decode although the
//! type changed (a new field with a default, a removed one): a fingerprint
//! tells the operator the schema drifted before anyone relies on it.

use sha2::{Digest, Sha256};

/// The fingerprint of a shape: the first 16 hex digits of its SHA-256
/// (`gludb_core::TypeInfo::shape`). The same source gives the same
/// fingerprint on every build and machine.
///
/// ```
/// let a = gludb_backup::archive::fingerprint("table=Notes;bases=;indexes=;fields=id:String");
/// assert_eq!(a.len(), 16);
/// assert_ne!(a, gludb_backup::archive::fingerprint("table=Notes;bases=;indexes=;fields=id:u64"));
/// ```
pub fn fingerprint(shape: &str) -> String {
    let digest = Sha256::digest(shape.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// How the shape `then` (recorded in a backup) differs from `now` (the
/// running type), in words; `None` when they are the same.
pub fn drift(then: &str, now: &str) -> Option<String> {
    if then == now {
        return None;
    }
    let (old, new) = (parts(then), parts(now));
    let mut changes = Vec::new();
    for key in ["table", "bases", "indexes"] {
        let (a, b) = (old.get(key), new.get(key));
        if a != b {
            changes.push(format!(
                "{key} {} → {}",
                a.map_or("?", String::as_str),
                b.map_or("?", String::as_str)
            ));
        }
    }
    let (old_fields, new_fields) = (fields(&old), fields(&new));
    for (name, ty) in &old_fields {
        match new_fields.iter().find(|(n, _)| n == name) {
            None => changes.push(format!("field {name} removed")),
            Some((_, now)) if now != ty => changes.push(format!("field {name}: {ty} → {now}")),
            Some(_) => {}
        }
    }
    for (name, ty) in &new_fields {
        if !old_fields.iter().any(|(n, _)| n == name) {
            changes.push(format!("field {name}: {ty} added"));
        }
    }
    if changes.is_empty() {
        changes.push("the shape text differs".to_owned());
    }
    Some(changes.join("; "))
}

fn parts(shape: &str) -> std::collections::BTreeMap<&str, String> {
    shape
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(key, value)| (key, value.to_owned()))
        .collect()
}

/// `(name, type and attributes)` of each field. A field's type may hold
/// commas (`HashMap<String,u32>`): fields are split at commas outside
/// brackets.
fn fields(parts: &std::collections::BTreeMap<&str, String>) -> Vec<(String, String)> {
    let Some(list) = parts.get("fields") else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    let list = list.as_str();
    for (i, c) in list.char_indices() {
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' | ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < list.len() {
        fields.push(&list[start..]);
    }
    fields
        .into_iter()
        .filter_map(|f| f.split_once(':'))
        .map(|(name, ty)| (name.to_owned(), ty.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_names_what_changed() {
        let then = "table=Notes;bases=;indexes=;fields=id:String,n:HashMap<String,u32>,text:String";
        let now =
            "table=Notes;bases=;indexes=by_text;fields=id:String,n:HashMap<String,u64>,stars:u8";
        assert_eq!(drift(then, then), None);
        assert_eq!(
            drift(then, now).unwrap(),
            "indexes  → by_text; field n: HashMap<String,u32> → HashMap<String,u64>; field text removed; field stars: u8 added"
        );
    }
}
