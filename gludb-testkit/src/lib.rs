//! Real servers for gludb's tests and benchmarks (no mocks).
//!
//! * [`S3Server`]: an in-process S3-compatible server (`s3s` + `s3s-fs`) with
//!   SigV4 authentication, on its own thread and runtime.
//! * [`FaultProxy`]: an HTTP proxy in front of [`S3Server`] that injects
//!   faults by rule (error statuses, connections reset mid-body, truncated
//!   responses, stalls) and counts requests, for reliability tests.
//! * [`TmpfsMount`]: a small tmpfs (Linux, needs root or `CAP_SYS_ADMIN`) to
//!   fill up (`ENOSPC`) or remount read-only (`EROFS`) under `file://` stores.
//! * [`PgCluster`]: a throwaway PostgreSQL cluster (`initdb` + `pg_ctl`), or
//!   the server named by `GLUDB_TEST_POSTGRES_URL`.
//! * `conformance` (feature `conformance`): the conformance suite of
//!   `gludb_core::Backend`, for any backend to run on itself.
//!
//! The servers are the default feature `servers`; a third-party backend
//! that wants only the conformance suite turns it off.
//!
//! Servers listen on `127.0.0.1` on free ports and are stopped (and their
//! data deleted) when the value that started them is dropped; the cluster
//! of [`PgCluster::shared`], one per test binary, when the process exits.

#[cfg(feature = "servers")]
mod accept;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "servers")]
pub mod fault;
#[cfg(feature = "servers")]
pub mod postgres;
#[cfg(feature = "servers")]
pub mod s3;
#[cfg(all(feature = "servers", target_os = "linux"))]
pub mod tmpfs;

#[cfg(feature = "servers")]
pub use fault::{Fault, FaultAction, FaultProxy, RequestKind};
#[cfg(feature = "servers")]
pub use postgres::PgCluster;
#[cfg(feature = "servers")]
pub use s3::S3Server;
#[cfg(all(feature = "servers", target_os = "linux"))]
pub use tmpfs::TmpfsMount;
