//! Which classes a backup (or restore) covers: picked by type or by module,
//! optionally with their bases, exactly as the original's `add_class` and
//! `add_package`.

use gludb_core::{Storable, TypeInfo, mro::mro, registry};

/// Whether adding a class also adds the Storable bases in its method
/// resolution order (the original's `include_bases`, default yes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bases {
    /// Add the class and every Storable base (the default).
    #[default]
    Include,
    /// Add the class alone.
    Exclude,
}

/// Whether adding a package also adds the types of its sub-packages (the
/// original's `recurse`, default yes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subpackages {
    /// The package's modules and every module below them (the default).
    #[default]
    Include,
    /// The package itself and its direct child modules only.
    Exclude,
}

/// An ordered set of registered types.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    classes: Vec<&'static TypeInfo>,
    log: Vec<String>,
}

impl Selection {
    /// Adds `T` and, with [`Bases::Include`], every base in its method
    /// resolution order. Returns how many classes were newly added.
    pub fn add_class<T: Storable>(&mut self, bases: Bases) -> usize {
        self.add_type(T::type_info(), bases)
    }

    /// [`add_class`](Self::add_class) for a type known by its registry entry.
    pub fn add_type(&mut self, info: &'static TypeInfo, bases: Bases) -> usize {
        let candidates = if bases == Bases::Include {
            // The MRO gives the original's order; a hierarchy with no MRO
            // still has a well-defined set of bases to back up.
            mro(info).unwrap_or_else(|_| all_bases(info))
        } else {
            vec![info]
        };
        let mut added = 0;
        for class in candidates {
            if !self.contains(class) {
                self.classes.push(class);
                self.log
                    .push(format!("Adding class {}", class.backup_name()));
                added += 1;
            }
        }
        added
    }

    /// Adds every registered type declared in module `package` (and, with
    /// [`Subpackages::Include`], below it) via [`add_type`](Self::add_type).
    /// Returns how many classes were newly added; 0 (and a log line) if
    /// nothing matched.
    ///
    /// Only types of crates linked into the binary are registered: a crate
    /// listed in `Cargo.toml` but never referenced from code is dropped by the
    /// linker, with its types. Reference it (`use my_models as _;`).
    pub fn add_package(&mut self, package: &str, subpackages: Subpackages, bases: Bases) -> usize {
        let found = registry::in_package(package, subpackages == Subpackages::Include);
        if found.is_empty() {
            let message = format!("Package {package} has no registered Storable types");
            tracing::warn!(package, "{message}");
            self.log.push(message);
            return 0;
        }
        found
            .into_iter()
            .map(|info| self.add_type(info, bases))
            .sum()
    }

    /// Adds every registered type.
    pub fn add_all(&mut self) -> usize {
        registry::all()
            .into_iter()
            .map(|info| self.add_type(info, Bases::Exclude))
            .sum()
    }

    /// Whether the type is selected.
    pub fn contains(&self, info: &TypeInfo) -> bool {
        self.classes.iter().any(|c| c.same_type(info))
    }

    /// The selected types, in the order they were added.
    pub fn classes(&self) -> &[&'static TypeInfo] {
        &self.classes
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The log lines of the selection ("Adding class ...").
    pub fn log(&self) -> &[String] {
        &self.log
    }
}

/// Every base reachable from `info` (itself first), depth first, once each.
fn all_bases(info: &'static TypeInfo) -> Vec<&'static TypeInfo> {
    let mut seen: Vec<&'static TypeInfo> = Vec::new();
    let mut stack = vec![info];
    while let Some(class) = stack.pop() {
        if seen.iter().any(|s| s.same_type(class)) {
            continue;
        }
        seen.push(class);
        stack.extend(class.bases().collect::<Vec<_>>().into_iter().rev());
    }
    seen
}

/// The class-picking methods `Backup` and `Restore` share, so both read the
/// same: `add_class`, `add_class_with`, `add_package`, `add_package_with`
/// (counting, as the original's), and `with_class` / `with_package` (to
/// build one in a single expression).
macro_rules! selection_methods {
    () => {
        /// Adds `T` and every Storable base in its method resolution order;
        /// returns how many classes were newly added.
        pub fn add_class<T: gludb_core::Storable>(&mut self) -> usize {
            self.selection.add_class::<T>($crate::Bases::Include)
        }

        /// Adds `T`, with or without its bases; returns how many classes
        /// were newly added.
        pub fn add_class_with<T: gludb_core::Storable>(&mut self, bases: $crate::Bases) -> usize {
            self.selection.add_class::<T>(bases)
        }

        /// Adds a type known by its registry entry (found by name with
        /// `gludb_core::registry::find_by_name`, as operators' tools do),
        /// with or without its bases; returns how many were newly added.
        pub fn add_type(
            &mut self,
            info: &'static gludb_core::TypeInfo,
            bases: $crate::Bases,
        ) -> usize {
            self.selection.add_type(info, bases)
        }

        /// Adds every registered type in module `package` and below (e.g.
        /// `myapp::model`), with their bases; returns how many were newly
        /// added. See [`Selection::add_package`](crate::Selection::add_package)
        /// for what "registered" takes.
        pub fn add_package(&mut self, package: &str) -> usize {
            self.selection.add_package(
                package,
                $crate::Subpackages::Include,
                $crate::Bases::Include,
            )
        }

        /// `add_package` with the original's `recurse` and `include_bases`
        /// options.
        pub fn add_package_with(
            &mut self,
            package: &str,
            subpackages: $crate::Subpackages,
            bases: $crate::Bases,
        ) -> usize {
            self.selection.add_package(package, subpackages, bases)
        }

        /// [`add_class`](Self::add_class), by value: `Backup::from_url(url)?.with_class::<Order>()`.
        pub fn with_class<T: gludb_core::Storable>(mut self) -> Self {
            self.add_class::<T>();
            self
        }

        /// [`add_package`](Self::add_package), by value.
        pub fn with_package(mut self, package: &str) -> Self {
            self.add_package(package);
            self
        }

        /// The selected classes.
        pub fn selection(&self) -> &crate::Selection {
            &self.selection
        }
    };
}
pub(crate) use selection_methods;
