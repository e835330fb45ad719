//! Progress bars on stderr while a scenario runs; hidden when stderr is not a terminal (CI,
//! pipes), so `--json` output and logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `what`.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({elapsed}, eta {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}
