//! Schema fingerprints: what a class looked like when it was backed up
//! (its shape, as `#[derive(Storable)]` read it from the source), compared
//! with the type this program registers. Records may decode although the
//! type changed (a new field with a default, a removed one): a fingerprint
//! tells the operator the schema drifted before anyone relies on it.

/// The fingerprint of a shape (`gludb_core::TypeInfo::fingerprint`).
pub use gludb_core::fingerprint;

/// How the shape `then` (recorded in a backup) differs from `now` (the
/// running type), in words; `None` when they are the same.
pub fn drift(then: &str, now: &str) -> Option<String> {
    if then == now {
        return None;
    }
    let (old, new) = (parts(then), parts(now));
    let mut changes = Vec::new();
    for key in ["table", "bases", "indexes", "serde"] {
        // A part a shape does not have (an older writer's) is empty.
        let (a, b) = (
            old.get(key).map_or("", String::as_str),
            new.get(key).map_or("", String::as_str),
        );
        if a != b {
            changes.push(format!("{key} {a} → {b}"));
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
    split_outside_brackets(shape, ';')
        .into_iter()
        .filter_map(|part| part.split_once('='))
        .map(|(key, value)| (key, value.to_owned()))
        .collect()
}

/// `(name, type and attributes)` of each field.
fn fields(parts: &std::collections::BTreeMap<&str, String>) -> Vec<(String, String)> {
    let Some(list) = parts.get("fields") else {
        return Vec::new();
    };
    split_outside_brackets(list, ',')
        .into_iter()
        .filter_map(|f| f.split_once(':'))
        .map(|(name, ty)| (name.to_owned(), ty.to_owned()))
        .collect()
}

/// `text` split at each `separator` outside brackets and string literals:
/// a type may hold both (`HashMap<String,u32>`, `[u8;4]`), an attribute a
/// string (`rename="a;b"`).
fn split_outside_brackets(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start, mut quoted) = (0i32, 0, false);
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            _ if quoted => {}
            '<' | '(' | '[' | '{' => depth += 1,
            '>' | ')' | ']' | '}' => depth -= 1,
            c if c == separator && depth == 0 => {
                pieces.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
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
