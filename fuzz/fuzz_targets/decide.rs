//! `decide` with arbitrary (mutated) commands, actors and times over a planning with people,
//! items, an open round and a question; accepted events must apply and survive the codec
//! (see tests/common/fuzz.rs).
#![no_main]

#[path = "../../tests/common/fuzz.rs"]
mod harness;

use std::sync::OnceLock;

static FIXTURE: OnceLock<(harness::Fixture, Vec<serde_json::Value>)> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (f, t) = FIXTURE.get_or_init(|| {
        let f = harness::fixture();
        let t = harness::templates(&f);
        (f, t)
    });
    harness::decide_sequence(f, t, data);
});
