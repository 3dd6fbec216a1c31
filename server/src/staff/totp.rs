//! TOTP second factor (RFC 6238 with totp-rs): SHA-1, 6 digits, 30-second
//! steps, one step of clock skew either way. A code's step must be later
//! than the last accepted one, so a code seen over a shoulder or in a log
//! cannot be replayed.

use rand::RngCore as _;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// 160-bit secrets, as RFC 4226 recommends for SHA-1.
pub const SECRET_LEN: usize = 20;
pub const ISSUER: &str = "Parasol";

pub(crate) fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    // Skew 0: the caller tries each step itself, to learn which matched.
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec()).ok()
}

/// The step `code` is valid for (now −1, now or now +1), if it is valid
/// and later than `last_step`.
pub(crate) fn check(secret: &[u8], code: &str, now: u64, last_step: Option<u64>) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret)?;
    let current = now / STEP_SECS;
    let mut matched = None;
    // Try all three without stopping early, so timing says nothing of which.
    for step in [current.saturating_sub(1), current, current + 1] {
        if totp.check(code, step * STEP_SECS) && last_step.is_none_or(|last| step > last) {
            matched = Some(step);
        }
    }
    matched
}

/// `otpauth://` URI for authenticator apps. Usernames are `[a-z0-9._-]`,
/// which need no escaping; base32 needs none either.
pub(crate) fn otpauth_uri(secret: &[u8], username: &str) -> Option<String> {
    let secret = totp(secret)?.get_secret_base32();
    Some(format!(
        "otpauth://totp/{ISSUER}:{username}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_with_one_step_of_skew_and_never_replayed() {
        let secret = new_secret();
        let t = totp(&secret).unwrap();
        let now = 1_795_000_015;
        let step = now / STEP_SECS;
        let code = t.generate(now);
        assert_eq!(check(&secret, &code, now, None), Some(step));
        assert_eq!(check(&secret, &code, now + 30, None), Some(step), "one step late");
        assert_eq!(check(&secret, &code, now - 30, None), Some(step), "one step early");
        assert_eq!(check(&secret, &code, now + 60, None), None, "two steps late");
        assert_eq!(check(&secret, &code, now, Some(step)), None, "replay");
        assert_eq!(check(&secret, &t.generate(now + 30), now, Some(step)), Some(step + 1));
        assert_eq!(check(&secret, "12345", now, None), None);
        assert_eq!(check(&secret, "12345x", now, None), None);
    }

    #[test]
    fn the_uri_holds_the_base32_secret() {
        let uri = otpauth_uri(&[0u8; 20], "ana").unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/Parasol:ana?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&issuer=Parasol&algorithm=SHA1&digits=6&period=30"
        );
    }
}
