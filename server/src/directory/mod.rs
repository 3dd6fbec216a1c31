//! The key-package directory (RFC 9750 §5.1): clients upload key packages,
//! others claim them to add the owner to a group. One-time packages are
//! consumed atomically; the last-resort package is handed out only when
//! none is left, and is never consumed.

use std::num::NonZeroU32;

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
use std::sync::Arc;

use crate::storage::{owner, ClientId, KeyPackageRecord, Storage, StorageError};
use crate::time::now_secs;

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
    crypto: RustCrypto,
    limits: Limits,
    /// Claims per target client, by everyone together.
    claims_per_target: DefaultKeyedRateLimiter<ClientId>,
    /// Key packages stored in all (`max_stored_key_packages`). Kept as
    /// publishes and claims go; expired packages a claim skips make it
    /// count high until the next purge recounts.
    stored: Arc<Mutex<usize>>,
}

impl Directory {
    pub fn new(storage: Storage, limits: Limits) -> Result<Self, StorageError> {
        let per_minute = NonZeroU32::new(limits.key_package_claims_per_target_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Directory {
            stored: Arc::new(Mutex::new(storage.count_all_key_packages()?)),
            storage,
            crypto: RustCrypto::default(),
            claims_per_target: RateLimiter::keyed(Quota::per_minute(per_minute)),
            limits,
        })
    }

    pub async fn stock(&self, owner: &ClientId) -> ServiceResult<Stock> {
        let (storage, owner) = (self.storage.clone(), *owner);
        owner::read(move || stock_of(&storage, &owner)).await
    }

    /// Validate and store key packages; all or nothing. With `replace`,
    /// the owner's earlier packages are withdrawn in the same step.
    pub async fn publish(&self, owner: &ClientId, packages: &[Bytes], replace: bool) -> ServiceResult<Stock> {
        if packages.len() > self.limits.max_key_packages_per_publish {
            return Err(ServiceError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "at most {} key packages per request",
                    self.limits.max_key_packages_per_publish
                ),
            ));
        }
        let now = now_secs();
        let mut one_time = Vec::new();
        let mut last_resort = None;
        for bytes in packages {
            let (kp_ref, record, is_last_resort) = self.validate(owner, &bytes.0, now)?;
            if is_last_resort {
                last_resort = Some(record);
            } else {
                one_time.push((kp_ref, record));
            }
        }
        // Counted, checked and stored in one job of the state owner, which
        // runs the directory's writes one at a time, so concurrent publishes
        // cannot overshoot the bounds together.
        let (storage, stored, owner) = (self.storage.clone(), self.stored.clone(), *owner);
        let limits = self.limits.clone();
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
                let after = stored.saturating_sub(withdrawn) + added;
                if added > 0 && after > limits.max_stored_key_packages {
                    return Err(ServiceError::new(
                        ErrorCode::LimitExceeded,
                        "the server's key-package directory is full; retry later",
                    ));
                }
                storage.put_key_packages(&owner, &one_time, last_resort.as_ref(), replace)?;
                *stored = after;
                Ok(())
            })
            .await?;
        self.stock(&owner).await
    }

    /// Check a key package the intake keeps with a ticket (one-time only:
    /// a last-resort package could be used twice).
    pub fn validate_one_time(&self, owner: &ClientId, bytes: &[u8]) -> ServiceResult<()> {
        let (_, _, last_resort) = self.validate(owner, bytes, now_secs())?;
        if last_resort {
            return Err(ServiceError::new(
                ErrorCode::InvalidKeyPackage,
                "a chat request carries one-time key packages",
            ));
        }
        Ok(())
    }

    fn validate(&self, owner: &ClientId, bytes: &[u8], now: u64) -> ServiceResult<(Vec<u8>, KeyPackageRecord, bool)> {
        let bad = |m: &str| ServiceError::new(ErrorCode::InvalidKeyPackage, m);
        if bytes.len() > self.limits.max_key_package_bytes {
            return Err(ServiceError::new(ErrorCode::EnvelopeTooLarge, "key package too large"));
        }
        let message = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| bad("not a TLS-serialized MLSMessage"))?;
        let MlsMessageBodyIn::KeyPackage(kp_in) = message.extract() else {
            return Err(bad("not a key package"));
        };
        let kp = kp_in
            .validate(&self.crypto, ProtocolVersion::Mls10)
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
        if lifetime.not_after().saturating_sub(lifetime.not_before()) > self.limits.max_key_package_lifetime_secs {
            return Err(bad("key package lifetime exceeds the maximum"));
        }
        if lifetime.not_after() <= now {
            return Err(bad("key package has expired"));
        }
        let kp_ref = kp.hash_ref(&self.crypto).map_err(|_| ServiceError::internal())?;
        let record = KeyPackageRecord {
            not_after: lifetime.not_after(),
            key_package: bytes.to_vec(),
        };
        Ok((kp_ref.as_slice().to_vec(), record, kp.last_resort()))
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
            self.storage
                .owner()
                .write(move || -> ServiceResult<_> {
                    let taken = storage.take_key_package(&owner, now)?;
                    if taken.is_some() {
                        let mut stored = stored.lock();
                        *stored = stored.saturating_sub(1);
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

    /// Delete expired packages (by the state owner, like every directory
    /// write).
    pub async fn purge_expired(&self) -> ServiceResult<usize> {
        let (storage, stored) = (self.storage.clone(), self.stored.clone());
        self.storage
            .owner()
            .write(move || -> ServiceResult<_> {
                let purged = storage.purge_expired_key_packages(now_secs())?;
                *stored.lock() = storage.count_all_key_packages()?;
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
