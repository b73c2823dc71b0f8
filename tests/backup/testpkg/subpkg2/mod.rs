pub mod module {
    use gludb::Storable;
    use serde::{Deserialize, Serialize};

    #[derive(Storable, Serialize, Deserialize, Debug, Default)]
    #[gludb(table = "MidData2")]
    pub struct MidData2 {
        pub id: String,
        pub name: String,
    }
}
