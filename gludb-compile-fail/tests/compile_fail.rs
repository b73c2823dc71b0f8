//! `#[derive(Storable)]` refuses what it cannot store, pointing at the
//! user's code: one case per file in tests/ui (the facade's), each with the
//! expected compiler output beside it.

#[test]
fn derive_errors_point_at_the_users_code() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
