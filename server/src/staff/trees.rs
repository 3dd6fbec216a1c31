//! The staff trees in sled, read and written synchronously (on the state
//! owner or the blocking pool, never on an async worker).

use super::*;

impl Trees {
    pub(super) fn record(&self, account_id: u64) -> Result<Option<AccountRecord>, StaffError> {
        self.accounts.get(be(account_id))?.map(|v| decode(&v)).transpose()
    }

    pub(super) fn record_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StaffError> {
        match self.usernames.get(username)? {
            Some(id) => {
                let id = u64::from_be_bytes(id.as_ref().try_into().map_err(corrupt)?);
                self.record(id)
            }
            None => Ok(None),
        }
    }

    pub(super) fn put(&self, record: &AccountRecord) -> Result<(), StaffError> {
        self.accounts.insert(be(record.account_id), encode(record)?)?;
        Ok(())
    }

    pub(super) fn list(&self) -> Result<Vec<AccountSummary>, StaffError> {
        self.accounts
            .iter()
            .values()
            .map(|v| Ok(decode::<AccountRecord>(&v?)?.summary()))
            .collect()
    }

    /// Apply `change` to an account (owner thread: serialised).
    pub(super) fn modify(
        &self,
        account_id: u64,
        change: impl FnOnce(&mut AccountRecord) -> Result<(), StaffError>,
    ) -> Result<AccountRecord, StaffError> {
        let mut record = self.record(account_id)?.ok_or(StaffError::NotFound)?;
        change(&mut record)?;
        self.put(&record)?;
        Ok(record)
    }

    pub(super) fn create(&self, new: NewAccount, password_hash: String) -> Result<AccountRecord, StaffError> {
        if self.accounts.len() >= self.config.max_accounts {
            return Err(StaffError::TooManyAccounts);
        }
        // Single-key steps on the owner thread (see storage's rule),
        // ordered for a crash: the id is used up first, the username,
        // which makes the account reachable, comes last.
        if self.usernames.get(new.username.as_bytes())?.is_some() {
            return Err(StaffError::UsernameTaken);
        }
        let id = match self.meta.get("next_account_id")? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(corrupt)?),
            None => 1,
        };
        let record = AccountRecord {
            account_id: id,
            username: new.username.clone(),
            display_name: new.display_name,
            role: new.role,
            languages: new.languages,
            max_concurrent_chats: new.max_concurrent_chats,
            password_hash,
            totp_secret: None,
            totp_last_step: None,
            disabled: false,
            created_at: now_secs(),
        };
        let bytes = encode(&record)?;
        self.meta.insert("next_account_id", &be(id + 1)[..])?;
        self.accounts.insert(&be(id)[..], bytes)?;
        self.usernames.insert(new.username.as_bytes(), &be(id)[..])?;
        Ok(record)
    }

    pub(super) fn second_factor(&self, account_id: u64, code: Option<&str>) -> Result<bool, StaffError> {
        let Some(mut record) = self.record(account_id)? else {
            return Ok(false);
        };
        let Some(secret) = record.totp_secret.clone() else {
            return Ok(true);
        };
        let Some(code) = code else { return Ok(false) };
        match totp::check(&secret, code, now_secs(), record.totp_last_step) {
            Some(step) => {
                record.totp_last_step = Some(step);
                self.put(&record)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub(super) fn new_session(&self, account_id: u64) -> Result<(String, u64), StaffError> {
        if self.session_count.load(Ordering::Relaxed) >= self.config.max_sessions {
            self.purge_expired()?;
            if self.session_count.load(Ordering::Relaxed) >= self.config.max_sessions {
                return Err(StaffError::Busy);
            }
        }
        // The account's oldest sessions give way past the per-account cap.
        let existing: Vec<sled::IVec> = self
            .session_index
            .scan_prefix(be(account_id))
            .keys()
            .collect::<Result<_, _>>()?;
        let excess = (existing.len() + 1).saturating_sub(self.config.max_sessions_per_account);
        for k in existing.iter().take(excess) {
            self.remove_session_by_index_key(k)?;
        }
        let now = now_secs();
        let expires_at = now + self.config.session_ttl_secs;
        let (token, hash) = session::new_token();
        let record = encode(&SessionRecord {
            account_id,
            created_at: now,
            expires_at,
        })?;
        // The index entry first (see storage's rule: no transaction): a
        // crash in between leaves an index entry without a session, never
        // a session that revoking the account's sessions cannot find.
        self.session_index.insert(index_key(account_id, now, &hash), &[][..])?;
        self.sessions.insert(&hash[..], record.as_slice())?;
        self.session_count.fetch_add(1, Ordering::Relaxed);
        Ok((token, expires_at))
    }

    pub(super) fn remove_session_by_index_key(&self, key: &[u8]) -> Result<(), StaffError> {
        let hash = &key[16..];
        self.session_index.remove(key)?;
        if self.sessions.remove(hash)?.is_some() {
            self.session_count.fetch_sub(1, Ordering::Relaxed);
        }
        self.cut_off_session(hash);
        Ok(())
    }

    /// The token that ends this session's connections: a child of the
    /// account's `account_watch`, so disabling the account ends it too.
    pub(super) fn session_watch(&self, hash: &[u8; 32], account_watch: &CancellationToken) -> CancellationToken {
        let mut cut_offs = self.session_cut_offs.lock();
        match cut_offs.get(hash) {
            Some(t) if !t.is_cancelled() => t.clone(),
            _ => {
                let t = account_watch.child_token();
                cut_offs.insert(*hash, t.clone());
                t
            }
        }
    }

    /// End the live connections of one session (it was logged out, expired
    /// or pushed out), at once: they close with 4004.
    pub(super) fn cut_off_session(&self, hash: &[u8]) {
        if let Some(t) = self.session_cut_offs.lock().remove(hash) {
            t.cancel();
        }
    }

    pub(super) fn remove_session(&self, hash: &[u8; 32], record: &SessionRecord) -> Result<(), StaffError> {
        self.remove_session_by_index_key(&index_key(record.account_id, record.created_at, hash))
    }

    pub(super) fn live_session(&self, hash: &[u8; 32]) -> Result<SessionRecord, StaffError> {
        let record: SessionRecord = match self.sessions.get(hash)? {
            Some(v) => decode(&v)?,
            None => return Err(StaffError::InvalidSession),
        };
        if record.expires_at <= now_secs() {
            return Err(StaffError::InvalidSession);
        }
        Ok(record)
    }

    /// Delete the account's sessions (the caller then cancels its watch
    /// token: [`Staff::cut_off`]).
    pub(super) fn delete_sessions(&self, account_id: u64) -> Result<(), StaffError> {
        let keys: Vec<sled::IVec> = self
            .session_index
            .scan_prefix(be(account_id))
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.remove_session_by_index_key(k)?;
        }
        Ok(())
    }

    pub(super) fn purge_expired(&self) -> Result<usize, StaffError> {
        let now = now_secs();
        let mut expired = Vec::new();
        for item in self.sessions.iter() {
            let (k, v) = item?;
            let record: SessionRecord = decode(&v)?;
            if record.expires_at <= now {
                let hash: [u8; 32] = k.as_ref().try_into().map_err(corrupt)?;
                expired.push((hash, record));
            }
        }
        for (hash, record) in &expired {
            self.remove_session(hash, record)?;
        }
        Ok(expired.len())
    }
}
