//! The key-package trees: one-time packages per client, and each client's
//! last-resort package.

use super::*;

impl Storage {
    /// Number of one-time key packages stored for `client`.
    pub fn count_key_packages(&self, client: &ClientId) -> Result<u32, StorageError> {
        let mut n = 0u32;
        for item in self.key_packages.scan_prefix(client) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Key packages stored in all, one-time and last-resort (a full scan:
    /// at start and after a purge only).
    pub fn count_all_key_packages(&self) -> Result<usize, StorageError> {
        Ok(self.key_packages.len() + self.last_resort.len())
    }

    /// Whether `client` has any one-time key package stored.
    pub fn has_key_packages(&self, client: &ClientId) -> Result<bool, StorageError> {
        Ok(self.key_packages.scan_prefix(client).next().transpose()?.is_some())
    }

    pub fn has_last_resort(&self, client: &ClientId) -> Result<bool, StorageError> {
        Ok(self.last_resort.contains_key(client)?)
    }

    /// Store one-time packages (keyed by their reference) and optionally
    /// replace the last-resort package, atomically. With `replace_all`,
    /// every package stored before for `client` is deleted in the same step.
    pub fn put_key_packages(
        &self,
        client: &ClientId,
        one_time: &[(Vec<u8>, KeyPackageRecord)],
        last_resort: Option<&KeyPackageRecord>,
        replace_all: bool,
    ) -> Result<(), StorageError> {
        let withdrawn: Vec<sled::IVec> = if replace_all {
            self.key_packages.scan_prefix(client).keys().collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = one_time
            .iter()
            .map(|(kp_ref, rec)| {
                let mut key = client.to_vec();
                key.extend_from_slice(kp_ref);
                let sealed = self.vault.seal_state(KEY_PACKAGES, &key, &rec.encode())?;
                Ok((key, sealed))
            })
            .collect::<Result<_, StorageError>>()?;
        let last = last_resort
            .map(|r| self.vault.seal_state(LAST_RESORT, client, &r.encode()))
            .transpose()?;
        // Single-key steps (see the module's rule). The withdrawn go first:
        // a crash in between leaves fewer packages, which the owner's
        // client tops up, never a withdrawn package handed out.
        for k in &withdrawn {
            self.key_packages.remove(k)?;
        }
        if replace_all {
            self.last_resort.remove(client.as_slice())?;
        }
        for (k, v) in &encoded {
            self.key_packages.insert(k.as_slice(), v.as_slice())?;
        }
        if let Some(v) = &last {
            self.last_resort.insert(client.as_slice(), v.as_slice())?;
        }
        Ok(())
    }

    /// Remove and return one unexpired one-time package of `client`
    /// (expired ones met on the way are deleted). Atomic against concurrent
    /// claims: `remove` returns the value to exactly one caller.
    pub fn take_key_package(&self, client: &ClientId, now: u64) -> Result<Option<KeyPackageRecord>, StorageError> {
        loop {
            let Some(item) = self.key_packages.scan_prefix(client).next() else {
                return Ok(None);
            };
            let (key, _) = item?;
            let Some(value) = self.key_packages.remove(&key)? else {
                continue; // another claim took it first
            };
            let record = self.open_key_package(KEY_PACKAGES, &key, &value)?;
            if record.not_after > now {
                return Ok(Some(record));
            }
        }
    }

    pub fn last_resort_key_package(
        &self,
        client: &ClientId,
        now: u64,
    ) -> Result<Option<KeyPackageRecord>, StorageError> {
        match self.last_resort.get(client)? {
            Some(v) => {
                let rec = self.open_key_package(LAST_RESORT, client, &v)?;
                Ok((rec.not_after > now).then_some(rec))
            }
            None => Ok(None),
        }
    }

    /// Delete expired key packages; returns how many.
    pub fn purge_expired_key_packages(&self, now: u64) -> Result<usize, StorageError> {
        let mut purged = 0;
        for (name, tree) in [(KEY_PACKAGES, &self.key_packages), (LAST_RESORT, &self.last_resort)] {
            for item in tree.iter() {
                let (key, value) = item?;
                if self.open_key_package(name, &key, &value)?.not_after <= now {
                    tree.remove(key)?;
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}
