//! `POST /api/plannings/{id}/commands` bodies through the route's decoding (see
//! tests/common/fuzz.rs).
#![no_main]

#[path = "../../tests/common/fuzz.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rest_command(data));
