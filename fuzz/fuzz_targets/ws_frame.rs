//! Websocket text frames through the connection loop's decoding (see tests/common/fuzz.rs).
#![no_main]

#[path = "../../tests/common/fuzz.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ws_frame(data));
