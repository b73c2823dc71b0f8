//! The benchmarks' record type, shared by `bench_backup` (which fills a
//! database with it) and `bench_reliability` (which backs it up under load).

use gludb::Storable;
use serde::{Deserialize, Serialize};

/// The benchmark's record type.
#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "BenchData")]
pub struct BenchData {
    pub id: String,
    pub name: String,
    pub descrip: String,
    pub age: u32,
    pub extra: Extra,
}

#[derive(Serialize, Deserialize)]
pub struct Extra {
    pub a: u64,
    pub tags: Vec<String>,
}
