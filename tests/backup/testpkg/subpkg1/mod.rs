pub mod module {
    use gludb::Storable;
    use serde::{Deserialize, Serialize};

    #[derive(Storable, Serialize, Deserialize, Debug, Default)]
    #[gludb(table = "MidData1")]
    pub struct MidData1 {
        pub id: String,
        pub name: String,
    }
}
pub mod subsubpkg;
