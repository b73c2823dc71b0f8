//! The original GLUDB's backup test package, as Rust modules: one class at
//! each of four places.

pub mod module {
    use gludb::Storable;
    use serde::{Deserialize, Serialize};

    #[derive(Storable, Serialize, Deserialize, Debug, Default)]
    #[gludb(table = "TopData")]
    pub struct TopData {
        pub id: String,
        pub name: String,
    }
}
pub mod subpkg1;
pub mod subpkg2;
