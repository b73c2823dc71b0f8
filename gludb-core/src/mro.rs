//! Method resolution order: Python's C3 linearisation over the bases declared
//! with `#[gludb(bases(...))]`, so database mapping and `include_bases` pick
//! classes in the same order as the original GLUDB.

use crate::{Error, Result, TypeInfo};

/// The type followed by its bases in C3 order (Python's `__mro__` without
/// `object`).
///
/// For `Busy(X, Y, Z)` with `X`, `Y`, `Z` each based on `Base` this is
/// `Busy, X, Y, Z, Base`, not the depth-first `Busy, X, Base, Y, Z`. Bases
/// that admit no such order (e.g. `A(X, Y)` and `B(Y, X)` both bases of one
/// type), or that form a cycle, are an [`Error::InconsistentHierarchy`].
pub fn mro(info: &'static TypeInfo) -> Result<Vec<&'static TypeInfo>> {
    linearize(info, &mut Vec::new())
}

fn linearize(
    info: &'static TypeInfo,
    path: &mut Vec<&'static TypeInfo>,
) -> Result<Vec<&'static TypeInfo>> {
    if path.iter().any(|seen| seen.same_type(info)) {
        let cycle: Vec<_> = path.iter().map(|t| t.type_name()).collect();
        return Err(Error::InconsistentHierarchy {
            type_name: info.type_name().to_owned(),
            detail: format!(
                "the bases form a cycle: {} -> {}",
                cycle.join(" -> "),
                info.type_name()
            ),
        });
    }
    path.push(info);
    let mut sequences = Vec::with_capacity(info.bases().len() + 1);
    for base in info.bases() {
        sequences.push(linearize(base, path)?);
    }
    path.pop();
    sequences.push(info.bases().collect());
    merge(info, vec![info], sequences)
}

/// C3 merge: repeatedly take the first head that appears in no sequence's tail.
fn merge(
    info: &'static TypeInfo,
    mut result: Vec<&'static TypeInfo>,
    mut sequences: Vec<Vec<&'static TypeInfo>>,
) -> Result<Vec<&'static TypeInfo>> {
    // Sequences are consumed from the front; keep them reversed so that
    // taking a head is a cheap `pop`.
    for sequence in &mut sequences {
        sequence.reverse();
    }
    loop {
        sequences.retain(|s| !s.is_empty());
        if sequences.is_empty() {
            return Ok(result);
        }
        let in_a_tail = |candidate: &TypeInfo| {
            sequences.iter().any(|s| {
                // The tail is everything but the head, i.e. all but the last element.
                s[..s.len() - 1].iter().any(|t| t.same_type(candidate))
            })
        };
        let Some(next) = sequences
            .iter()
            .filter_map(|s| s.last().copied())
            .find(|head| !in_a_tail(head))
        else {
            let heads: Vec<_> = sequences
                .iter()
                .filter_map(|s| s.last().map(|t| t.type_name()))
                .collect();
            return Err(Error::InconsistentHierarchy {
                type_name: info.type_name().to_owned(),
                detail: format!(
                    "no consistent method resolution order for the bases {}",
                    heads.join(", ")
                ),
            });
        };
        result.push(next);
        for sequence in &mut sequences {
            if sequence.last().is_some_and(|head| head.same_type(next)) {
                sequence.pop();
            }
        }
    }
}
