use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "")]
struct Empty {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "x\"; DROP TABLE y; --")]
struct Injection {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "1st")]
struct Digit {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "a_table_name_that_is_one_byte_longer_than_postgresql_allows_wxyz")]
struct TooLong {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "naïve")]
struct NonAscii {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "sqlite_stat1")]
struct SqliteOwn {
    id: String,
}

fn main() {}
