//! The durable webhook outbox: every notice for the crisis line is written
//! to sled (and flushed) before the escalation is answered, then posted
//! until the endpoint says 2xx, with exponential backoff. A crash or a
//! down endpoint loses nothing; the idempotency key stays the same across
//! attempts and restarts, so the crisis line can drop repeats.
//!
//! The body carries no content and no identifier of the visitor or the
//! counsellor: the event, the escalation id, severity, category, the time
//! and a callback URL. It is signed with HMAC-SHA256 over
//! `"{timestamp}.{body}"` (header `X-Parasol-Signature: v1=<hex>`, with
//! `X-Parasol-Timestamp`), so the receiver can check it came from us and
//! is fresh.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use parasol_protocol::{Category, Severity};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::storage::owner::{self, StateOwner};
use crate::storage::StorageError;

pub const SIGNATURE_HEADER: &str = "x-parasol-signature";
pub const TIMESTAMP_HEADER: &str = "x-parasol-timestamp";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Where and how to post.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: reqwest::Url,
    pub secret: Vec<u8>,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_entries: usize,
}

/// The JSON body, exactly as documented in PROTOCOL.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// `escalation.raised` or `escalation.renotified`.
    pub event: String,
    pub idempotency_key: String,
    pub escalation_id: u64,
    pub severity: Severity,
    pub category: Category,
    /// RFC 3339, UTC.
    pub time: String,
    /// POST here with a responder's staff session (`Authorization: Bearer`)
    /// to accept.
    pub callback_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    idempotency_key: String,
    escalation_id: u64,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    attempts: u32,
    next_attempt_ms: u64,
}

pub struct Outbox {
    db: sled::Db,
    tree: sled::Tree,
    /// Writes the outbox's tree and makes it durable (see storage's rule:
    /// no sled call on an async worker); reads run on the blocking pool.
    owner: StateOwner,
    target: Option<WebhookTarget>,
    http: reqwest::Client,
    wake: Notify,
    audit: Arc<Audit>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` at `timestamp` (for
/// receivers and tests; compares in constant time).
pub fn verify_signature(secret: &[u8], timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("v1=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

impl Outbox {
    pub fn open(
        db: &sled::Db,
        owner: StateOwner,
        target: Option<WebhookTarget>,
        audit: Arc<Audit>,
    ) -> Result<Self, StorageError> {
        let timeout = target.as_ref().map_or(Duration::from_secs(10), |t| t.timeout);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StorageError::Corrupt(format!("webhook client: {e}")))?;
        Ok(Outbox {
            db: db.clone(),
            tree: db.open_tree("escalation_outbox")?,
            owner,
            target,
            http,
            wake: Notify::new(),
            audit,
        })
    }

    /// Write a notice durably; the worker posts it. Without a configured
    /// endpoint this does nothing. Returns false when the outbox is full
    /// (the escalation still goes ahead by push; the error is logged).
    pub async fn enqueue(&self, body: &WebhookBody) -> Result<bool, StorageError> {
        let Some(target) = &self.target else {
            return Ok(true);
        };
        let entry = Entry {
            idempotency_key: body.idempotency_key.clone(),
            escalation_id: body.escalation_id,
            body: serde_json::to_vec(body).expect("webhook bodies serialize"),
            attempts: 0,
            next_attempt_ms: 0,
        };
        let (db, tree, max_entries) = (self.db.clone(), self.tree.clone(), target.max_entries);
        // Counted and written on the state owner, durable when it answers.
        let queued = self
            .owner
            .write(move || {
                if tree.len() >= max_entries {
                    return Ok::<_, StorageError>(false);
                }
                let key = db.generate_id()?.to_be_bytes();
                tree.insert(key, rmp_serde::to_vec_named(&entry).expect("entries serialize"))?;
                Ok(true)
            })
            .await?;
        if !queued {
            tracing::error!("webhook outbox full; notice not queued");
            return Ok(false);
        }
        self.wake.notify_one();
        Ok(true)
    }

    /// Post due notices until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(target) = self.target.clone() else { return };
        loop {
            let next_due = self.deliver_due(&target).await;
            let sleep = next_due.map_or(Duration::from_secs(60), |due| {
                Duration::from_millis(due.saturating_sub(now_ms()).max(10))
            });
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// One pass over the outbox, oldest first. Returns when the next
    /// not-yet-due notice is due.
    async fn deliver_due(&self, target: &WebhookTarget) -> Option<u64> {
        let mut next_due: Option<u64> = None;
        // Read on the blocking pool; the outbox is bounded (`max_entries`).
        let tree = self.tree.clone();
        let Ok(entries) = owner::read(move || {
            Ok::<_, StorageError>(
                tree.iter()
                    .filter_map(Result::ok)
                    .collect::<Vec<(sled::IVec, sled::IVec)>>(),
            )
        })
        .await
        else {
            tracing::error!("reading the webhook outbox failed");
            return Some(now_ms() + 1000);
        };
        for (key, bytes) in entries {
            let Ok(mut entry) = rmp_serde::from_slice::<Entry>(&bytes) else {
                tracing::error!("dropping a corrupt webhook outbox entry");
                let _ = self.owner.remove(&self.tree, &key);
                continue;
            };
            if entry.next_attempt_ms > now_ms() {
                next_due = Some(next_due.map_or(entry.next_attempt_ms, |d| d.min(entry.next_attempt_ms)));
                continue;
            }
            entry.attempts += 1;
            if self.post(target, &entry).await {
                let tree = self.tree.clone();
                let removed = self
                    .owner
                    .write(move || {
                        tree.remove(&key)?;
                        Ok::<_, StorageError>(())
                    })
                    .await;
                if removed.is_err() {
                    tracing::error!("removing a delivered webhook notice failed");
                }
                let event = AuditEvent::new(Actor::System, AuditAction::EscalationWebhookDelivered)
                    .subject(format!("escalation:{}", entry.escalation_id))
                    .detail(format!("attempts:{}", entry.attempts));
                if self.audit.record_nowait(event).is_err() {
                    tracing::error!("writing the audit log failed");
                }
                tracing::info!(attempts = entry.attempts, "webhook delivered");
            } else {
                let backoff = backoff(target, entry.attempts);
                entry.next_attempt_ms = now_ms() + backoff.as_millis() as u64;
                next_due = Some(next_due.map_or(entry.next_attempt_ms, |d| d.min(entry.next_attempt_ms)));
                let stored = rmp_serde::to_vec_named(&entry).expect("entries serialize");
                if self.owner.insert(&self.tree, &key, stored).is_err() {
                    tracing::error!("rescheduling a webhook notice failed");
                }
                tracing::warn!(
                    attempts = entry.attempts,
                    retry_in_ms = backoff.as_millis() as u64,
                    "webhook not delivered"
                );
            }
        }
        next_due
    }

    async fn post(&self, target: &WebhookTarget, entry: &Entry) -> bool {
        let timestamp = now_ms() / 1000;
        let result = self
            .http
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &entry.idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&target.secret, timestamp, &entry.body))
            .body(entry.body.clone())
            .send()
            .await;
        match result {
            Ok(response) => response.status().is_success(),
            // The error may carry the URL; it names no person, but keep
            // logs to what happened.
            Err(e) => {
                tracing::debug!(
                    timeout = e.is_timeout(),
                    connect = e.is_connect(),
                    "webhook post failed"
                );
                false
            }
        }
    }
}

/// `initial × 2^(attempts-1)`, at most `max`, with ±20 % jitter so many
/// servers do not retry in step.
fn backoff(target: &WebhookTarget, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(20);
    let base = target.retry_initial.saturating_mul(1u32 << exp).min(target.retry_max);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_secret_time_and_body() {
        let s = signature(b"secret", 1_800_000_000, b"{\"a\":1}");
        assert!(s.starts_with("v1="));
        assert!(verify_signature(b"secret", 1_800_000_000, b"{\"a\":1}", &s));
        assert!(!verify_signature(b"other", 1_800_000_000, b"{\"a\":1}", &s));
        assert!(!verify_signature(b"secret", 1_800_000_001, b"{\"a\":1}", &s));
        assert!(!verify_signature(b"secret", 1_800_000_000, b"{\"a\":2}", &s));
        assert!(!verify_signature(b"secret", 1_800_000_000, b"{\"a\":1}", "v1=zz"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t = WebhookTarget {
            url: "http://127.0.0.1:1/".parse().unwrap(),
            secret: vec![1; 32],
            timeout: Duration::from_secs(1),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            max_entries: 10,
        };
        for (attempts, expected_ms) in [(1, 100.0), (2, 200.0), (3, 400.0), (10, 1000.0), (40, 1000.0)] {
            let got = backoff(&t, attempts).as_millis() as f64;
            assert!(
                got >= expected_ms * 0.8 - 1.0 && got <= expected_ms * 1.2 + 1.0,
                "{attempts}: {got}"
            );
        }
    }
}
