pub mod module {
    use gludb::Storable;
    use serde::{Deserialize, Serialize};

    #[derive(Storable, Serialize, Deserialize, Debug, Default)]
    #[gludb(table = "BottomData")]
    pub struct BottomData {
        pub id: String,
        pub name: String,
    }
}
