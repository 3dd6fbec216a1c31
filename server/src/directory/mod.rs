//! The key-package directory (RFC 9750 §5.1): clients upload key packages,
//! others claim them to add the owner to a group. One-time packages are
//! consumed atomically; the last-resort package is handed out only when
//! none is left, and is never consumed.

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;
use parasol_protocol::{Bytes, ErrorCode};
use parking_lot::Mutex;

use crate::config::Limits;
use crate::delivery::identity::client_id_of_leaf;
use crate::delivery::CIPHERSUITE;
use crate::error::{ServiceError, ServiceResult};
use crate::storage::{owner, ClientId, KeyPackageRecord, Storage, StorageError};
use crate::time::now_secs;
use crate::validation::{Requester, ValidationPool};

/// Which keys are staff keys (the intake knows: keys a staff session
/// authenticated with). Their packages draw on the staff pool.
pub trait StaffKeys: Send + Sync {
    fn is_staff(&self, client: &ClientId) -> bool;
    /// Every staff key (a few per account), to recount the staff pool.
    fn staff_keys(&self) -> Vec<ClientId>;
}

/// Key packages stored, per pool: anonymous keys cannot take the staff
/// consoles' share (`max_anonymous_stored_key_packages`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub staff: usize,
    pub anonymous: usize,
}

impl Stored {
    fn pool(&mut self, staff: bool) -> &mut usize {
        if staff {
            &mut self.staff
        } else {
            &mut self.anonymous
        }
    }
}

/// One validated key package.
struct Valid {
    kp_ref: Vec<u8>,
    record: KeyPackageRecord,
    last_resort: bool,
}

/// A client's key-package stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub one_time: u32,
    pub last_resort: bool,
}

/// A claimed key package.
pub struct Claimed {
    pub key_package: Vec<u8>,
    pub last_resort: bool,
    /// The owner's stock after the claim, to tell the owner.
    pub owner_stock: Stock,
}

pub struct Directory {
    storage: Storage,
    limits: Limits,
    /// Claims per target client, by everyone together.
    claims_per_target: DefaultKeyedRateLimiter<ClientId>,
    /// Key packages stored, per pool (`max_stored_key_packages` in all,
    /// `max_anonymous_stored_key_packages` of them anonymous). Kept as
    /// publishes and claims go; expired packages a claim skips make it
    /// count high until the next purge recounts.
    stored: Arc<Mutex<Stored>>,
    staff_keys: parking_lot::RwLock<Option<Weak<dyn StaffKeys>>>,
    validation: Arc<ValidationPool>,
}

impl Directory {
    /// Until [`Directory::set_staff_keys`], every stored package counts as
    /// anonymous.
    pub fn new(storage: Storage, limits: Limits, validation: Arc<ValidationPool>) -> Result<Self, StorageError> {
        let per_minute = NonZeroU32::new(limits.key_package_claims_per_target_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Directory {
            stored: Arc::new(Mutex::new(Stored {
                staff: 0,
                anonymous: storage.count_all_key_packages()?,
            })),
            storage,
            claims_per_target: RateLimiter::keyed(Quota::per_minute(per_minute)),
            limits,
            staff_keys: parking_lot::RwLock::new(None),
            validation,
        })
    }

    /// Tell the directory which keys are staff keys, and recount the pools
    /// (at start-up, before any request).
    pub fn set_staff_keys(&self, staff_keys: Weak<dyn StaffKeys>) -> ServiceResult<()> {
        *self.staff_keys.write() = Some(staff_keys);
        let counted = count_pools(&self.storage, &self.staff_key_list())?;
        *self.stored.lock() = counted;
        Ok(())
    }

    fn staff_key_list(&self) -> Vec<ClientId> {
        let keys = self.staff_keys.read().as_ref().and_then(Weak::upgrade);
        keys.map(|k| k.staff_keys()).unwrap_or_default()
    }

    fn is_staff(&self, client: &ClientId) -> bool {
        let keys = self.staff_keys.read().as_ref().and_then(Weak::upgrade);
        keys.is_some_and(|k| k.is_staff(client))
    }

    /// Key packages stored now, per pool.
    pub fn stored(&self) -> Stored {
        *self.stored.lock()
    }

    pub async fn stock(&self, owner: &ClientId) -> ServiceResult<Stock> {
        let (storage, owner) = (self.storage.clone(), *owner);
        owner::read(move || stock_of(&storage, &owner)).await
    }

    /// Validate and store key packages; all or nothing. With `replace`,
    /// the owner's earlier packages are withdrawn in the same step. The
    /// caps are checked before any signature is (refused work is cheap),
    /// and the validation runs in the bounded pool.
    pub async fn publish(
        &self,
        owner: &ClientId,
        packages: &[Bytes],
        replace: bool,
        who: Requester,
    ) -> ServiceResult<Stock> {
        if packages.len() > self.limits.max_key_packages_per_publish {
            return Err(ServiceError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "at most {} key packages per request",
                    self.limits.max_key_packages_per_publish
                ),
            ));
        }
        let staff = self.is_staff(owner);
        let Stock {
            one_time: owned,
            last_resort: had_last_resort,
        } = self.stock(owner).await?;
        let owned = owned as usize;
        let kept = if replace { 0 } else { owned };
        // At least all but one of the packages are one-time ones.
        let at_least_one_time = packages.len().saturating_sub(1);
        let per_client_full = || {
            ServiceError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "at most {} one-time key packages may be stored per client",
                    self.limits.max_key_packages_per_client
                ),
            )
        };
        if kept + at_least_one_time > self.limits.max_key_packages_per_client as usize {
            return Err(per_client_full());
        }
        let withdrawn = if replace {
            owned + usize::from(had_last_resort)
        } else {
            0
        };
        if at_least_one_time > 0 {
            let pool = *self.stored.lock().pool(staff);
            if pool.saturating_sub(withdrawn) + at_least_one_time > self.pool_cap(staff) {
                return Err(self.directory_full(staff));
            }
        }
        self.validation.charge(&who, packages.len() as u32)?;
        let now = now_secs();
        let (limits, owner_id) = (self.limits.clone(), *owner);
        let bytes: Vec<Vec<u8>> = packages.iter().map(|b| b.0.clone()).collect();
        let valid = self
            .validation
            .run(&who, move || {
                let crypto = RustCrypto::default();
                bytes
                    .iter()
                    .map(|b| validate(&crypto, &limits, &owner_id, b, now))
                    .collect::<ServiceResult<Vec<Valid>>>()
            })
            .await??;
        let mut one_time = Vec::new();
        let mut last_resort = None;
        for mut v in valid {
            if !staff {
                // Visitors' keys are used within minutes: whatever lifetime
                // the package claims, the directory keeps it days, not months.
                v.record.not_after = v
                    .record
                    .not_after
                    .min(now.saturating_add(self.limits.max_anonymous_key_package_lifetime_secs));
            }
            if v.last_resort {
                last_resort = Some(v.record);
            } else {
                one_time.push((v.kp_ref, v.record));
            }
        }
        // Counted, checked and stored in one job of the state owner, which
        // runs the directory's writes one at a time, so concurrent publishes
        // cannot overshoot the bounds together.
        let (storage, stored, owner) = (self.storage.clone(), self.stored.clone(), *owner);
        let limits = self.limits.clone();
        let pool_cap = self.pool_cap(staff);
        let full = self.directory_full(staff);
        self.storage
            .owner()
            .write(move || -> ServiceResult<()> {
                let owned = storage.count_key_packages(&owner)? as usize;
                let had_last_resort = storage.has_last_resort(&owner)?;
                let kept = if replace { 0 } else { owned };
                if kept + one_time.len() > limits.max_key_packages_per_client as usize {
                    return Err(ServiceError::new(
                        ErrorCode::LimitExceeded,
                        format!(
                            "at most {} one-time key packages may be stored per client",
                            limits.max_key_packages_per_client
                        ),
                    ));
                }
                let mut stored = stored.lock();
                let withdrawn = if replace {
                    owned + usize::from(had_last_resort)
                } else {
                    0
                };
                let keeps_last_resort = had_last_resort && !replace;
                let added = one_time.len() + usize::from(last_resort.is_some() && !keeps_last_resort);
                let pool_before = *stored.pool(staff);
                let pool_after = pool_before.saturating_sub(withdrawn) + added;
                let total_after = (stored.staff + stored.anonymous - pool_before) + pool_after;
                if added > 0 && (pool_after > pool_cap || total_after > limits.max_stored_key_packages) {
                    return Err(full);
                }
                storage.put_key_packages(&owner, &one_time, last_resort.as_ref(), replace)?;
                *stored.pool(staff) = pool_after;
                Ok(())
            })
            .await?;
        self.stock(&owner).await
    }

    /// The most packages a pool may hold: staff may use the whole
    /// directory, anonymous keys their share of it.
    fn pool_cap(&self, staff: bool) -> usize {
        if staff {
            self.limits.max_stored_key_packages
        } else {
            self.limits.anonymous_stored_key_packages()
        }
    }

    fn directory_full(&self, staff: bool) -> ServiceError {
        let message = if staff {
            "the server's key-package directory is full; retry later"
        } else {
            "the key-package directory's share for visitors is full; retry later"
        };
        ServiceError::new(ErrorCode::LimitExceeded, message)
    }

    /// Check key packages the intake or a circle keeps (one-time only: a
    /// last-resort package could be used twice), in the validation pool
    /// and charged to the requester's source like a publish.
    pub async fn validate_one_time_packages(
        &self,
        owner: &ClientId,
        packages: &[Bytes],
        who: Requester,
    ) -> ServiceResult<()> {
        self.validation.charge(&who, packages.len() as u32)?;
        let (limits, owner) = (self.limits.clone(), *owner);
        let bytes: Vec<Vec<u8>> = packages.iter().map(|b| b.0.clone()).collect();
        self.validation
            .run(&who, move || {
                let crypto = RustCrypto::default();
                for b in &bytes {
                    if validate(&crypto, &limits, &owner, b, now_secs())?.last_resort {
                        return Err(ServiceError::new(
                            ErrorCode::InvalidKeyPackage,
                            "a chat request carries one-time key packages",
                        ));
                    }
                }
                Ok(())
            })
            .await?
    }

    /// Take a key package of `owner`: a one-time one if any is left,
    /// otherwise the last-resort one.
    pub async fn claim(&self, owner: &[u8]) -> ServiceResult<Claimed> {
        let owner: ClientId = owner
            .try_into()
            .map_err(|_| ServiceError::new(ErrorCode::NoKeyPackage, "client ids are 32 bytes"))?;
        let now = now_secs();
        // One-time packages may be taken from one client only so fast, by
        // everyone together; past that, claimers get the last-resort package
        // (which is never used up), so nobody can be made un-addable and
        // nobody can drain a client's stock. Only clients with one-time
        // stock get a counter.
        let storage = self.storage.clone();
        let has_one_time = owner::read(move || storage.has_key_packages(&owner)).await?;
        let one_time = if has_one_time && self.claims_per_target.check_key(&owner).is_ok() {
            // Taken by the state owner, which answers after its flush: a
            // one-time package must never be handed out twice, even across
            // a crash.
            let (storage, stored) = (self.storage.clone(), self.stored.clone());
            let staff = self.is_staff(&owner);
            self.storage
                .owner()
                .write(move || -> ServiceResult<_> {
                    let taken = storage.take_key_package(&owner, now)?;
                    if taken.is_some() {
                        let mut stored = stored.lock();
                        let pool = stored.pool(staff);
                        *pool = pool.saturating_sub(1);
                    }
                    Ok(taken)
                })
                .await?
        } else {
            None
        };
        let (record, last_resort) = match one_time {
            Some(r) => (r, false),
            None => {
                let storage = self.storage.clone();
                let found = owner::read(move || -> ServiceResult<_> {
                    Ok((
                        storage.last_resort_key_package(&owner, now)?,
                        storage.has_key_packages(&owner)?,
                    ))
                })
                .await?;
                match found {
                    (Some(r), _) => (r, true),
                    (None, true) => {
                        return Err(ServiceError::new(
                            ErrorCode::LimitExceeded,
                            "this client's key packages are being claimed too fast; retry in a minute",
                        ))
                    }
                    (None, false) => {
                        return Err(ServiceError::new(
                            ErrorCode::NoKeyPackage,
                            "this client has no key package left",
                        ))
                    }
                }
            }
        };
        Ok(Claimed {
            key_package: record.key_package,
            last_resort,
            owner_stock: self.stock(&owner).await?,
        })
    }

    /// Forget claim counters of targets nobody claimed lately (keeps the
    /// limiter's map small).
    pub fn forget_idle_claim_counters(&self) {
        self.claims_per_target.retain_recent();
        self.claims_per_target.shrink_to_fit();
    }

    /// Delete expired packages and recount the pools (by the state owner,
    /// like every directory write).
    pub async fn purge_expired(&self) -> ServiceResult<usize> {
        self.validation.trim();
        let (storage, stored) = (self.storage.clone(), self.stored.clone());
        let staff_keys = self.staff_key_list();
        self.storage
            .owner()
            .write(move || -> ServiceResult<_> {
                let purged = storage.purge_expired_key_packages(now_secs())?;
                *stored.lock() = count_pools(&storage, &staff_keys)?;
                Ok(purged)
            })
            .await
    }
}

fn stock_of(storage: &Storage, owner: &ClientId) -> ServiceResult<Stock> {
    Ok(Stock {
        one_time: storage.count_key_packages(owner)?,
        last_resort: storage.has_last_resort(owner)?,
    })
}

/// Count both pools from storage: staff keys are few, so their packages
/// are counted key by key; the rest is anonymous.
fn count_pools(storage: &Storage, staff_keys: &[ClientId]) -> ServiceResult<Stored> {
    let total = storage.count_all_key_packages()?;
    let mut staff = 0;
    for key in staff_keys {
        staff += storage.count_key_packages(key)? as usize + usize::from(storage.has_last_resort(key)?);
    }
    Ok(Stored {
        staff,
        anonymous: total.saturating_sub(staff),
    })
}

/// Check one uploaded key package: its encoding, signature, ciphersuite,
/// owner and lifetime (the expensive part is the signature).
fn validate(crypto: &RustCrypto, limits: &Limits, owner: &ClientId, bytes: &[u8], now: u64) -> ServiceResult<Valid> {
    let bad = |m: &str| ServiceError::new(ErrorCode::InvalidKeyPackage, m);
    if bytes.len() > limits.max_key_package_bytes {
        return Err(ServiceError::new(ErrorCode::EnvelopeTooLarge, "key package too large"));
    }
    let message = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| bad("not a TLS-serialized MLSMessage"))?;
    let MlsMessageBodyIn::KeyPackage(kp_in) = message.extract() else {
        return Err(bad("not a key package"));
    };
    let kp = kp_in
        .validate(crypto, ProtocolVersion::Mls10)
        .map_err(|e| bad(&format!("key package does not validate: {e}")))?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(bad("unsupported ciphersuite; use 0x0001"));
    }
    match client_id_of_leaf(kp.leaf_node()) {
        Ok(id) if id == *owner => {}
        Ok(_) => return Err(bad("key package belongs to another identity")),
        Err(e) => return Err(bad(e)),
    }
    let lifetime = kp.life_time();
    if lifetime.not_after().saturating_sub(lifetime.not_before()) > limits.max_key_package_lifetime_secs {
        return Err(bad("key package lifetime exceeds the maximum"));
    }
    if lifetime.not_after() <= now {
        return Err(bad("key package has expired"));
    }
    let kp_ref = kp.hash_ref(crypto).map_err(|_| ServiceError::internal())?;
    let record = KeyPackageRecord {
        not_after: lifetime.not_after(),
        key_package: bytes.to_vec(),
    };
    Ok(Valid {
        kp_ref: kp_ref.as_slice().to_vec(),
        record,
        last_resort: kp.last_resort(),
    })
}

#[cfg(test)]
mod tests;
