//! One more try for the requests object_store does not retry itself but we
//! may: a listing whose answer broke off mid-body, a bulk delete whose
//! connection dropped (deleting twice is harmless). object_store retries
//! server errors and timeouts of these requests already; a refusal (403)
//! is final either way.

use std::future::Future;

use crate::error::refused_credentials;

/// Runs `request`, and once more if it failed with a transport error.
pub(crate) async fn once_more<T, F, Fut>(mut request: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    match request().await {
        Err(e @ object_store::Error::Generic { .. }) if !refused_credentials(&e) => {
            tracing::debug!(error = %e, "a request failed; trying once more");
            request().await
        }
        done => done,
    }
}
