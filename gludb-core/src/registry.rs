//! The registry of every `#[derive(Storable)]` type linked into the binary.
//!
//! Each derive adds one element to the [`STORABLES`] distributed slice
//! (`linkme`), so the backup can find types by name or by module without a
//! hand-written list.
//!
//! A type only registers if its crate is linked: a crate that is listed in
//! `Cargo.toml` but never referenced from code is dropped by the linker, and
//! its types with it. Reference it (`use that_crate as _;`) if it only holds
//! models.

use crate::TypeInfo;

/// Every registered type's [`TypeInfo`], one element per `#[derive(Storable)]`.
#[linkme::distributed_slice]
pub static STORABLES: [fn() -> &'static TypeInfo];

/// Every registered type, ordered by full name (module path, then type name)
/// so that listings and backups are deterministic.
pub fn all() -> Vec<&'static TypeInfo> {
    let mut types: Vec<_> = STORABLES.iter().map(|info| info()).collect();
    types.sort_by_key(|t| (t.module_path(), t.type_name()));
    types
}

/// The registered types whose name is `name`: either the bare type name
/// (`SimpleData`, which may match several types in different modules) or the
/// full path (`myapp::model::SimpleData`).
pub fn find_by_name(name: &str) -> Vec<&'static TypeInfo> {
    all()
        .into_iter()
        .filter(|t| t.type_name() == name || t.full_name() == name)
        .collect()
}

/// The registered type whose backup name is `<TypeName>--<table>`, as tar
/// members are named.
pub fn find_by_backup_name(backup_name: &str) -> Vec<&'static TypeInfo> {
    all()
        .into_iter()
        .filter(|t| t.backup_name() == backup_name)
        .collect()
}

/// The registered types declared in module `package` or below it.
///
/// Python packages map to Rust modules: `myapp::model` (or `myapp.model`)
/// matches types whose `module_path!()` is `myapp::model` or starts with
/// `myapp::model::`. With `recurse = false` only `package` itself and its
/// direct child modules count (Python's "the modules of the package, not its
/// sub-packages").
pub fn in_package(package: &str, recurse: bool) -> Vec<&'static TypeInfo> {
    let package = package.trim().replace('.', "::");
    let package = package.trim_end_matches("::");
    all()
        .into_iter()
        .filter(|t| module_in_package(t.module_path(), package, recurse))
        .collect()
}

fn module_in_package(module: &str, package: &str, recurse: bool) -> bool {
    if package.is_empty() {
        return false;
    }
    if module == package {
        return true;
    }
    match module
        .strip_prefix(package)
        .and_then(|rest| rest.strip_prefix("::"))
    {
        Some(rest) => recurse || !rest.contains("::"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::module_in_package;

    #[test]
    fn package_matching_follows_module_boundaries() {
        assert!(module_in_package("app::model", "app::model", false));
        assert!(module_in_package("app::model::a", "app::model", false));
        assert!(!module_in_package("app::model::a::b", "app::model", false));
        assert!(module_in_package("app::model::a::b", "app::model", true));
        assert!(!module_in_package("app::models", "app::model", true));
        assert!(!module_in_package("app", "app::model", true));
        assert!(!module_in_package("app", "", true));
    }
}
