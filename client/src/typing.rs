//! Typing signals: ephemeral MLS application messages, encrypted like any
//! message (the server cannot tell them from text), that clients show for
//! a moment and never keep as a message. The same 3 bytes as the browser's
//! `web-client/src/chat/typing.ts`: `0xFF "T" 1|0`. 0xFF never occurs in
//! UTF-8, so a client that only knows text drops a signal as undecodable.

const MARK: u8 = 0xff;
const KIND: u8 = 0x54;

/// The payload of a "started" (`true`) or "stopped" signal.
pub fn encode(typing: bool) -> [u8; 3] {
    [MARK, KIND, u8::from(typing)]
}

/// Whether a decrypted payload is a typing signal, and which.
pub fn signal(payload: &[u8]) -> Option<bool> {
    match payload {
        [MARK, KIND, 1] => Some(true),
        [MARK, KIND, 0] => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_text_is_never_one() {
        assert_eq!(signal(&encode(true)), Some(true));
        assert_eq!(signal(&encode(false)), Some(false));
        assert_eq!(signal(b"hi!"), None);
        assert_eq!(signal(&[MARK, KIND, 2]), None);
        assert!(std::str::from_utf8(&encode(true)).is_err());
    }
}
