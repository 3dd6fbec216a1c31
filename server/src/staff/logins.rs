//! Logins and sessions: the password and second factor, session tokens,
//! logout, and cutting off an account's sessions and keys.

use super::*;

impl Staff {
    /// Log in from a local tool (no source): see [`Staff::login_from`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<LoginOutcome, StaffError> {
        self.login_from(username, password, totp_code, None).await
    }

    /// Log in from `source` (the salted key of the client's address; `None`
    /// for a local tool). Every failure is [`StaffError::InvalidCredentials`]
    /// (or `Throttled` / `Busy`, which do not depend on the account).
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
        source: Option<crate::intake::abuse::SourceKey>,
    ) -> Result<LoginOutcome, StaffError> {
        self.throttle.check(username, source)?;
        let _waiting = self.waiting.clone().try_acquire_owned().map_err(|_| StaffError::Busy)?;
        // The password checks run one after another in arrival order: one
        // source may have only its share of the logins waiting for them.
        let _share = self.throttle.wait_slot(source).ok_or(StaffError::Busy)?;
        let record = if is_valid_username(username) {
            self.record_by_username(username).await?
        } else {
            None
        };
        let ok = {
            let _check = self
                .checks
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StaffError::Busy)?;
            let hash = record
                .as_ref()
                .map_or_else(|| self.dummy_hash.clone(), |r| r.password_hash.clone());
            // Over-long passwords are checked as an empty one: same cost, no match.
            let too_long = password.len() > password::MAX_PASSWORD_BYTES;
            let password = if too_long { String::new() } else { password.to_owned() };
            let matched = tokio::task::spawn_blocking(move || password::verify(&hash, &password))
                .await
                .map_err(corrupt)?;
            matched && !too_long
        };
        let Some(record) = record else {
            // Not audited: names that are no account would let a flood of
            // guesses push real entries out of the bounded log (the
            // metrics count them).
            return Err(StaffError::InvalidCredentials);
        };
        let id = record.account_id;
        if !ok || record.disabled || !self.second_factor(id, totp_code).await? {
            self.audit(Actor::System, AuditAction::LoginFailed, Some(id)).await?;
            return Err(StaffError::InvalidCredentials);
        }
        let (token, expires_at) = self.new_session(id).await?;
        self.audit(Actor::Staff(id), AuditAction::Login, Some(id)).await?;
        Ok(LoginOutcome {
            token,
            expires_at,
            account: record.summary(),
        })
    }

    /// Check the TOTP code if the account has a second factor, and record
    /// its step so it cannot be used again.
    pub(super) async fn second_factor(&self, account_id: u64, code: Option<&str>) -> Result<bool, StaffError> {
        let code = code.map(str::to_owned);
        self.write(move |t| t.second_factor(account_id, code.as_deref())).await
    }

    pub(super) async fn new_session(&self, account_id: u64) -> Result<(String, u64), StaffError> {
        if self.session_count() >= self.config.max_sessions {
            self.throttle.trim();
        }
        self.write(move |t| t.new_session(account_id)).await
    }

    /// Who `token` belongs to, if it is a live session of an enabled
    /// account. The returned `cut_off` token is taken before the final
    /// check, so a disable racing with this call still cuts it off.
    pub async fn authenticate_session(&self, token: &str) -> Result<SessionInfo, StaffError> {
        let hash = session::hash_token(token).ok_or(StaffError::InvalidSession)?;
        let session = self.read(move |t| t.live_session(&hash)).await?;
        let cut_off = self.trees.session_watch(&hash, &self.watch(session.account_id).await);
        // Read again after taking the watch token (see above): a logout or
        // expiry purge after this point cancels `cut_off`.
        let checked = self
            .read(move |t| {
                let session = t.live_session(&hash)?;
                let record = t.record(session.account_id)?.ok_or(StaffError::InvalidSession)?;
                Ok((session, record))
            })
            .await;
        let (session, record) = match checked {
            Ok((session, record)) if !record.disabled && !cut_off.is_cancelled() => (session, record),
            Ok(_) | Err(_) => {
                self.trees.cut_off_session(&hash);
                return Err(StaffError::InvalidSession);
            }
        };
        Ok(SessionInfo {
            account_id: record.account_id,
            display_name: record.display_name,
            role: record.role,
            languages: record.languages,
            max_concurrent_chats: record.max_concurrent_chats,
            expires_at: session.expires_at,
            cut_off,
        })
    }

    /// End the session of `token`. Returns whether there was one. Its
    /// connections close at once (4004); other sessions of the account go
    /// on, and its keys stay (her mailboxes keep filling for the next
    /// login).
    pub async fn logout(&self, token: &str) -> Result<bool, StaffError> {
        let Some(hash) = session::hash_token(token) else {
            return Ok(false);
        };
        let ended = self
            .write(move |t| {
                let Some(v) = t.sessions.get(hash)? else {
                    return Ok(None);
                };
                let record: SessionRecord = decode(&v)?;
                t.remove_session(&hash, &record)?;
                Ok(Some(record))
            })
            .await?;
        let Some(record) = ended else {
            return Ok(false);
        };
        self.audit(
            Actor::Staff(record.account_id),
            AuditAction::Logout,
            Some(record.account_id),
        )
        .await?;
        Ok(true)
    }

    /// End every session of the account and cut off its live connections.
    pub async fn revoke_all(&self, account_id: u64, by: Actor) -> Result<(), StaffError> {
        self.write(move |t| t.delete_sessions(account_id)).await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::SessionsRevoked, Some(account_id)).await?;
        self.revoke_keys(account_id).await;
        Ok(())
    }

    /// Cancel the account's watch token, after its sessions are deleted (in
    /// this order: see [`Staff::authenticate_session`]).
    pub(super) fn cut_off(&self, account_id: u64) {
        if let Some(token) = self.watches.lock().remove(&account_id) {
            token.cancel();
        }
    }

    /// The token a live connection of this account holds: cancelled when
    /// the account is disabled or its sessions are revoked (later calls get
    /// a fresh one). For an unknown or disabled account it is cancelled
    /// already.
    pub async fn watch(&self, account_id: u64) -> CancellationToken {
        if let Some(t) = self.watches.lock().get(&account_id) {
            return t.clone();
        }
        // A disable that lands between this read and the entry below
        // leaves a live token for a disabled account: callers check the
        // account after taking the token (see `authenticate_session`).
        match self.read(move |t| t.record(account_id)).await {
            Ok(Some(r)) if !r.disabled => self.watches.lock().entry(account_id).or_default().clone(),
            _ => {
                let t = CancellationToken::new();
                t.cancel();
                t
            }
        }
    }

    /// Register who learns that an account's keys must stop working.
    pub fn add_key_hook(&self, hook: std::sync::Weak<dyn AccountKeysHook>) {
        self.key_hooks.write().push(hook);
    }

    /// Tell the hooks (the key registry) that every key of the account is
    /// revoked. Its sessions have ended already.
    pub(super) async fn revoke_keys(&self, account_id: u64) {
        let hooks: Vec<_> = self.key_hooks.read().iter().filter_map(|h| h.upgrade()).collect();
        for hook in hooks {
            hook.revoke_keys(account_id).await;
        }
    }

    /// Delete expired sessions and forget idle login-throttle entries; call
    /// it from the purge loop. Returns how many sessions went.
    pub async fn purge_expired(&self) -> Result<usize, StaffError> {
        self.throttle.trim();
        self.write(|t| t.purge_expired()).await
    }

    /// Sessions stored.
    pub fn session_count(&self) -> usize {
        self.trees.session_count.load(Ordering::Relaxed)
    }
}
