//! The config loader: any text gives a validated config or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parasol_server::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
});
