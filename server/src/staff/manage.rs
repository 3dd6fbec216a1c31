//! Managing accounts: create, read, disable and enable, passwords, TOTP,
//! and the demo counsellor.

use super::*;

impl Staff {
    /// Create an account. `by` is who asked (recorded in the audit log).
    pub async fn create(&self, new: NewAccount, by: Actor) -> Result<AccountSummary, StaffError> {
        account::check_new_account(&new)?;
        let password_hash = self.hash_password(&new.password).await?;
        let record = self.write(move |t| t.create(new, password_hash)).await?;
        self.audit(by, AuditAction::AccountCreated, Some(record.account_id))
            .await?;
        tracing::info!(role = %record.role, "staff account created");
        Ok(record.summary())
    }

    pub async fn get(&self, account_id: u64) -> Result<AccountSummary, StaffError> {
        Ok(self
            .read(move |t| t.record(account_id))
            .await?
            .ok_or(StaffError::NotFound)?
            .summary())
    }

    pub async fn get_by_username(&self, username: &str) -> Result<AccountSummary, StaffError> {
        Ok(self
            .record_by_username(username)
            .await?
            .ok_or(StaffError::NotFound)?
            .summary())
    }

    pub(super) async fn record_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StaffError> {
        let username = username.to_owned();
        self.read(move |t| t.record_by_username(&username)).await
    }

    /// Every account, by id.
    pub async fn list(&self) -> Result<Vec<AccountSummary>, StaffError> {
        self.read(|t| t.list()).await
    }

    /// Disable an account: it cannot log in, its sessions are deleted and
    /// its live connections are cut off at once.
    pub async fn disable(&self, account_id: u64, by: Actor) -> Result<AccountSummary, StaffError> {
        let record = self
            .write(move |t| {
                let record = t.modify(account_id, |r| {
                    r.disabled = true;
                    Ok(())
                })?;
                t.delete_sessions(account_id)?;
                Ok(record)
            })
            .await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::AccountDisabled, Some(account_id)).await?;
        self.revoke_keys(account_id).await;
        tracing::info!("staff account disabled; its sessions ended");
        Ok(record.summary())
    }

    pub async fn enable(&self, account_id: u64, by: Actor) -> Result<AccountSummary, StaffError> {
        let record = self
            .modify(account_id, |r| {
                r.disabled = false;
                Ok(())
            })
            .await?;
        self.audit(by, AuditAction::AccountEnabled, Some(account_id)).await?;
        Ok(record.summary())
    }

    /// Set a new password; the account's sessions end (a reset is what one
    /// does after a leak).
    pub async fn reset_password(&self, account_id: u64, password: &str, by: Actor) -> Result<(), StaffError> {
        account::check_new_password(password)?;
        self.read(move |t| t.record(account_id))
            .await?
            .ok_or(StaffError::NotFound)?;
        let hash = self.hash_password(password).await?;
        self.write(move |t| {
            t.modify(account_id, |r| {
                r.password_hash = hash;
                Ok(())
            })?;
            t.delete_sessions(account_id)
        })
        .await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::PasswordReset, Some(account_id)).await?;
        self.revoke_keys(account_id).await;
        Ok(())
    }

    /// Require a TOTP code at login from now on, with a new secret;
    /// returns the `otpauth://` URI to give the staff member (once).
    pub async fn enable_totp(&self, account_id: u64, by: Actor) -> Result<String, StaffError> {
        let secret = totp::new_secret();
        let stored = secret.clone();
        let record = self
            .modify(account_id, move |r| {
                r.totp_secret = Some(stored);
                r.totp_last_step = None;
                Ok(())
            })
            .await?;
        self.audit(by, AuditAction::TotpEnabled, Some(account_id)).await?;
        totp::otpauth_uri(&secret, &record.username).ok_or_else(|| corrupt("totp secret"))
    }

    pub async fn disable_totp(&self, account_id: u64, by: Actor) -> Result<(), StaffError> {
        self.modify(account_id, |r| {
            r.totp_secret = None;
            r.totp_last_step = None;
            Ok(())
        })
        .await?;
        self.audit(by, AuditAction::TotpDisabled, Some(account_id)).await?;
        Ok(())
    }

    /// Make sure the demo counsellor exists and enabled, with a fresh random
    /// password, which is returned (print it once; never log it).
    pub async fn ensure_demo(&self) -> Result<String, StaffError> {
        let password = password::generate();
        match self.record_by_username(DEMO_USERNAME).await? {
            Some(r) => {
                self.reset_password(r.account_id, &password, Actor::System).await?;
                if r.disabled {
                    self.enable(r.account_id, Actor::System).await?;
                }
            }
            None => {
                self.create(
                    NewAccount {
                        username: DEMO_USERNAME.into(),
                        display_name: "Demo counsellor".into(),
                        role: StaffRole::Counsellor,
                        languages: vec!["mk".into(), "sq".into(), "en".into()],
                        max_concurrent_chats: 3,
                        password: password.clone(),
                    },
                    Actor::System,
                )
                .await?;
            }
        }
        Ok(password)
    }
}
