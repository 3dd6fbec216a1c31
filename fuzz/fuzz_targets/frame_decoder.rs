//! The frame decoder: any bytes from a socket give a frame or a typed
//! error, never a panic; a decoded frame encodes back and decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parasol_protocol::codec::{decode_client_frame, decode_server_frame, encode_client_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_client_frame(data, 64 * 1024) {
        let again = encode_client_frame(&frame);
        let back = decode_client_frame(&again, usize::MAX).expect("a re-encoded frame decodes");
        assert_eq!(encode_client_frame(&back), again, "re-encoding is stable");
    }
    let _ = decode_server_frame(data);
});
