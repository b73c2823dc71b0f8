use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Indexed", indexes(naïve, ID, an_index_name_one_byte_longer_than_postgresql_allows_abcdefghijk))]
struct Indexed {
    id: String,
    naïve: String,
}

impl Indexed {
    #[allow(non_snake_case)]
    fn ID(&self) -> &str {
        &self.id
    }

    fn an_index_name_one_byte_longer_than_postgresql_allows_abcdefghijk(&self) -> u8 {
        0
    }
}

fn main() {}
