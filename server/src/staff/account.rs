//! Staff account records and the rules for their fields.

use parasol_protocol::StaffRole;
use serde::{Deserialize, Serialize};

use super::StaffError;

pub const MAX_USERNAME_LEN: usize = 64;
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
pub const MAX_LANGUAGES: usize = 8;
pub const MAX_CONCURRENT_CHATS: u8 = 20;

/// What the server stores per account (tree `staff_accounts`).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub account_id: u64,
    pub username: String,
    pub display_name: String,
    pub role: StaffRole,
    pub languages: Vec<String>,
    pub max_concurrent_chats: u8,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Raw TOTP secret (the server must be able to compute codes).
    #[serde(with = "serde_bytes")]
    pub totp_secret: Option<Vec<u8>>,
    /// Last accepted TOTP step; codes for it or earlier are refused.
    pub totp_last_step: Option<u64>,
    pub disabled: bool,
    pub created_at: u64,
}

impl AccountRecord {
    pub fn summary(&self) -> AccountSummary {
        AccountSummary {
            account_id: self.account_id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            languages: self.languages.clone(),
            max_concurrent_chats: self.max_concurrent_chats,
            totp_enabled: self.totp_secret.is_some(),
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

/// An account as shown to admins and to the staff member: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub account_id: u64,
    pub username: String,
    pub display_name: String,
    pub role: StaffRole,
    pub languages: Vec<String>,
    pub max_concurrent_chats: u8,
    pub totp_enabled: bool,
    pub disabled: bool,
    pub created_at: u64,
}

/// A new account, as an admin asks for it.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: StaffRole,
    pub languages: Vec<String>,
    pub max_concurrent_chats: u8,
    pub password: String,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("role", &self.role)
            .field("languages", &self.languages)
            .field("max_concurrent_chats", &self.max_concurrent_chats)
            .finish_non_exhaustive()
    }
}

fn invalid(message: &str) -> StaffError {
    StaffError::InvalidInput(message.to_string())
}

pub fn is_valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USERNAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-')
}

pub(crate) fn check_username(s: &str) -> Result<(), StaffError> {
    if is_valid_username(s) {
        Ok(())
    } else {
        Err(invalid(
            "a username is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

pub(crate) fn check_display_name(s: &str) -> Result<(), StaffError> {
    let n = s.chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME_CHARS || s.trim() != s || s.chars().any(char::is_control) {
        return Err(invalid(
            "a display name is 1 to 64 characters, without control characters or surrounding spaces",
        ));
    }
    Ok(())
}

/// ISO 639-1 codes: two lowercase letters, 1 to 8 of them, no repeats.
pub(crate) fn check_languages(languages: &[String]) -> Result<(), StaffError> {
    let ok_code = |c: &String| c.len() == 2 && c.bytes().all(|b| b.is_ascii_lowercase());
    let unique = languages.iter().enumerate().all(|(i, l)| !languages[..i].contains(l));
    if languages.is_empty() || languages.len() > MAX_LANGUAGES || !languages.iter().all(ok_code) || !unique {
        return Err(invalid(
            "languages are 1 to 8 distinct ISO 639-1 codes (two lowercase letters, e.g. mk,sq,en)",
        ));
    }
    Ok(())
}

pub(crate) fn check_max_chats(n: u8) -> Result<(), StaffError> {
    if (1..=MAX_CONCURRENT_CHATS).contains(&n) {
        Ok(())
    } else {
        Err(invalid("max concurrent chats must be between 1 and 20"))
    }
}

pub(crate) fn check_new_password(p: &str) -> Result<(), StaffError> {
    if p.chars().count() < super::password::MIN_PASSWORD_CHARS || p.len() > super::password::MAX_PASSWORD_BYTES {
        return Err(invalid("a password is at least 12 characters and at most 1024 bytes"));
    }
    Ok(())
}

pub(crate) fn check_new_account(a: &NewAccount) -> Result<(), StaffError> {
    check_username(&a.username)?;
    check_display_name(&a.display_name)?;
    check_languages(&a.languages)?;
    check_max_chats(a.max_concurrent_chats)?;
    check_new_password(&a.password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert!(is_valid_username("ana.k_2-x"));
        for bad in ["", "Ana", "ana k", "ana@x", &"a".repeat(65)] {
            assert!(!is_valid_username(bad), "{bad:?}");
        }
        assert!(check_display_name("Ана 🌂").is_ok());
        for bad in ["", " Ana", "A\nna", &"a".repeat(65)] {
            assert!(check_display_name(bad).is_err(), "{bad:?}");
        }
        let langs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_languages(&langs(&["mk", "sq", "en"])).is_ok());
        for bad in [
            &[][..],
            &["MK"],
            &["mkd"],
            &["mk", "mk"],
            &["aa", "ab", "ac", "ad", "ae", "af", "ag", "ah", "ai"],
        ] {
            assert!(check_languages(&langs(bad)).is_err(), "{bad:?}");
        }
        assert!(check_max_chats(0).is_err() && check_max_chats(21).is_err() && check_max_chats(20).is_ok());
        assert!(check_new_password("short").is_err() && check_new_password("long enough pw").is_ok());
    }
}
