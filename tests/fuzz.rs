//! The fuzz targets' proptest twins (see `tests/common/fuzz.rs` for what each checks, and
//! `fuzz/` for the cargo-fuzz versions): the same harness, driven by proptest's bytes, so every
//! `cargo test` runs a few hundred cases of each. Inputs that once panicked are kept below as
//! regression tests.

#[path = "common/fuzz.rs"]
mod fuzz;

use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::json;
use std::sync::OnceLock;

fn fixture() -> &'static (fuzz::Fixture, Vec<serde_json::Value>) {
    static F: OnceLock<(fuzz::Fixture, Vec<serde_json::Value>)> = OnceLock::new();
    F.get_or_init(|| {
        let f = fuzz::fixture();
        let t = fuzz::templates(&f);
        (f, t)
    })
}

/// A frame made from a template command, a few bytes flipped, inserted or cut.
fn frame_bytes(seed: &[u8]) -> Vec<u8> {
    let (_, templates) = fixture();
    let mut ch = fuzz::Choices::new(seed);
    let cmd = &templates[ch.below(templates.len())];
    let frame = match ch.below(4) {
        0 => json!({"type": "command", "op": "o", "command": cmd}),
        1 => json!({"type": "state_at", "at": ch.u64() as i64, "req": "r"}),
        2 => json!({"client_op_id": "o", "expected_seq": ch.u64() as i64, "command": cmd}),
        _ => json!({"type": "ping"}),
    };
    let mut bytes = frame.to_string().into_bytes();
    for _ in 0..ch.below(4) {
        let at = ch.below(bytes.len() + 1);
        match ch.below(3) {
            0 if at < bytes.len() => bytes[at] = ch.byte(),
            1 => bytes.insert(at, ch.byte()),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

// 256 cases each by default; `PROPTEST_CASES=100000 cargo test --test fuzz` for a long run.
proptest! {
    #[test]
    fn websocket_frames_never_panic(seed in prop::collection::vec(any::<u8>(), 0..64)) {
        fuzz::ws_frame(&frame_bytes(&seed));
    }

    #[test]
    fn websocket_raw_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzz::ws_frame(&data);
    }

    #[test]
    fn rest_command_bodies_never_panic(seed in prop::collection::vec(any::<u8>(), 0..64)) {
        fuzz::rest_command(&frame_bytes(&seed));
    }

    #[test]
    fn decide_never_panics_on_arbitrary_commands(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let (f, t) = fixture();
        fuzz::decide_sequence(f, t, &data);
    }
}

/// The harness reaches accepted commands, refused ones and undecodable ones (it is not
/// stuck on one of them).
#[test]
fn the_decide_harness_reaches_every_outcome() {
    let (f, t) = fixture();
    let mut total = (0, 0, 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..300 {
        let data: Vec<u8> = (0..400).map(|_| rand::Rng::gen(&mut rng)).collect();
        let (a, r, u) = fuzz::decide_sequence(f, t, &data);
        total = (total.0 + a, total.1 + r, total.2 + u);
    }
    eprintln!("decide harness: (accepted, refused, undecodable) = {total:?}");
    assert!(total.0 > 50 && total.1 > 50 && total.2 > 50, "{total:?}");
}

/// Every template is a valid command, and the unmutated ones decide as some actor would.
#[test]
fn templates_decode() {
    let (_, t) = fixture();
    for v in t {
        serde_json::from_value::<sprintlog::domain::Command>(v.clone())
            .unwrap_or_else(|e| panic!("{v}: {e}"));
    }
}

/// Writes seed inputs for the cargo-fuzz corpora (`SPRINTLOG_FUZZ_SEEDS=fuzz/corpus`).
#[test]
#[ignore = "writes files: run by hand before fuzzing"]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("SPRINTLOG_FUZZ_SEEDS") else {
        return;
    };
    let (_, t) = fixture();
    for (i, cmd) in t.iter().enumerate() {
        for (target, text) in [
            (
                "ws_frame",
                json!({"type": "command", "op": format!("o{i}"), "command": cmd}),
            ),
            (
                "rest_command",
                json!({"client_op_id": format!("o{i}"), "command": cmd}),
            ),
        ] {
            let d = std::path::Path::new(&dir).join(target);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("seed{i}")), text.to_string()).unwrap();
        }
    }
}
