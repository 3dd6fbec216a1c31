//! Authentication: the connection's first request proves a key (and, for
//! staff, a live session) by signing the challenge.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use ed25519_dalek::{Signature, VerifyingKey};
use futures_util::stream::SplitStream;
use parasol_protocol::{
    auth, close, decode_client_frame, AuthProof, Bytes, ClientFrame, ErrorCode, Request, Response, StaffSelf,
};
use tokio_util::sync::CancellationToken;

use super::outbox::{error_frame, response, Outbox};
use super::socket::{next_frame, Closing, Inbound};
use crate::error::{ServiceError, ServiceResult};
use crate::intake::StaffSession;
use crate::storage::ClientId;
use crate::Services;

/// A staff connection: the intake's view of the session, and the token
/// that ends the connection when the session is revoked.
pub(super) struct StaffLogin {
    pub session: StaffSession,
    pub ended: CancellationToken,
    /// When the session expires (Unix seconds): the connection ends then.
    pub expires_at: u64,
}

/// Phase 1 of a connection: read until an `authenticate` succeeds (and is
/// answered), within the deadline and the error budget.
pub(super) async fn authenticate_connection(
    services: &Arc<Services>,
    stream: &mut SplitStream<WebSocket>,
    outbox: &Outbox,
    nonce: &[u8],
) -> Result<(ClientId, Option<StaffLogin>), Closing> {
    let config = &services.config;
    let shutdown = services.shutdown.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.connections.auth_timeout_secs);
    let mut errors = 0u32;
    loop {
        let bytes = tokio::select! {
            _ = shutdown.cancelled() => return Err(Closing(close::GOING_AWAY, "server shutting down")),
            _ = tokio::time::sleep_until(deadline) => return Err(Closing(close::POLICY_VIOLATION, "authentication timeout")),
            r = next_frame(stream) => match r {
                Ok(Inbound::Frame(b)) => b,
                Ok(Inbound::KeepAlive) => continue,
                Err(c) => return Err(c),
            },
        };
        let result = match decode_client_frame(&bytes, config.limits.max_frame_bytes) {
            Err(e) => Err((e.request_id, ServiceError::new(e.code, e.message))),
            Ok(ClientFrame {
                id,
                req: Request::Authenticate { proof },
                ..
            }) => match authenticate(services, &proof, nonce).await {
                Ok(client) => Ok((id, client)),
                Err(e) => {
                    outbox.send(error_frame(Some(id), &e));
                    return Err(Closing(close::POLICY_VIOLATION, "authentication failed"));
                }
            },
            Ok(f) => Err((
                Some(f.id),
                ServiceError::new(ErrorCode::NotAuthenticated, "authenticate first"),
            )),
        };
        match result {
            Ok((id, (client, staff))) => {
                let stock = match services.directory.stock(&client).await {
                    Ok(s) => s,
                    Err(e) => {
                        outbox.send(error_frame(Some(id), &e));
                        return Err(Closing(close::INTERNAL_ERROR, "storage failure"));
                    }
                };
                // A wrong head would make the client resynchronise its cursor.
                let head = match services.mailboxes.head(&client).await {
                    Ok(h) => h,
                    Err(_) => return Err(Closing(close::INTERNAL_ERROR, "storage failure")),
                };
                outbox.send(response(
                    id,
                    Response::Authenticated {
                        client_id: client.to_vec().into(),
                        mailbox_head: head,
                        one_time_key_packages: stock.one_time,
                        last_resort_key_package: stock.last_resort,
                        staff: staff.as_ref().map(|s| StaffSelf {
                            account_id: s.session.account_id,
                            role: s.session.role,
                            display_name: s.session.display_name.clone(),
                            languages: s.session.languages.clone(),
                            max_chats: s.session.max_chats,
                            badge: s.session.badge.clone(),
                        }),
                    },
                ));
                return Ok((client, staff));
            }
            Err((id, e)) => {
                outbox.send(error_frame(id, &e));
                errors += 1;
                if errors >= config.connections.max_errors_before_auth {
                    return Err(Closing(
                        close::POLICY_VIOLATION,
                        "too many errors before authentication",
                    ));
                }
            }
        }
    }
}

/// Check the proof: the key signature always, and for staff the session.
async fn authenticate(
    services: &Services,
    proof: &AuthProof,
    nonce: &[u8],
) -> ServiceResult<(ClientId, Option<StaffLogin>)> {
    match proof {
        AuthProof::Ed25519Challenge { public_key, signature } => {
            let client = verify(public_key, signature, nonce)?;
            // A staff key works only with a live staff session: a disabled
            // or logged-out counsellor must not come back "anonymously".
            if services.intake.is_staff_client(&client) {
                return Err(ServiceError::new(
                    ErrorCode::AuthenticationFailed,
                    "this key belongs to a staff account; authenticate with a staff session",
                ));
            }
            Ok((client, None))
        }
        AuthProof::StaffSession {
            token,
            public_key,
            signature,
        } => {
            let client = verify(public_key, signature, nonce)?;
            let login = staff_login(services, token, client).await?;
            Ok((client, Some(login)))
        }
    }
}

fn verify(public_key: &Bytes, signature: &Bytes, nonce: &[u8]) -> ServiceResult<ClientId> {
    let failed = || ServiceError::new(ErrorCode::AuthenticationFailed, "signature does not verify");
    let key_bytes: ClientId = public_key.0.as_slice().try_into().map_err(|_| failed())?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| failed())?;
    let signature = Signature::from_slice(&signature.0).map_err(|_| failed())?;
    key.verify_strict(&auth::auth_transcript(nonce, &key_bytes), &signature)
        .map_err(|_| failed())?;
    Ok(key_bytes)
}

/// Check a staff session token; the connection's key becomes the staff
/// member's MLS identity for this session, with a badge the server signs.
async fn staff_login(services: &Services, token: &str, client: ClientId) -> ServiceResult<StaffLogin> {
    let info = services
        .staff
        .authenticate_session(token)
        .await
        .map_err(|_| ServiceError::new(ErrorCode::AuthenticationFailed, "the staff session is not valid"))?;
    if services.lifecycle.is_revoked(&client) {
        return Err(ServiceError::new(
            ErrorCode::AuthenticationFailed,
            "this key cannot be used by this account",
        ));
    }
    // Before `authenticated` and before the connection takes the key's
    // mailbox: a refusal here leaves the key's holder connected.
    services.intake.bind_staff_key(&client, info.account_id)?;
    let account_tag = services.attestor.account_tag(info.account_id);
    let attestation = services
        .attestor
        .attest(&client, info.role, &info.display_name, info.expires_at, &account_tag);
    let badge = parasol_protocol::StaffBadge {
        display_name: info.display_name.clone(),
        role: info.role,
        signature_key: Bytes(client.to_vec()),
        expires_at: info.expires_at,
        attestation: Bytes(attestation.to_vec()),
        account_tag: Bytes(account_tag.to_vec()),
    };
    Ok(StaffLogin {
        session: StaffSession {
            account_id: info.account_id,
            role: info.role,
            display_name: info.display_name,
            languages: info.languages,
            max_chats: u32::from(info.max_concurrent_chats),
            badge,
            client,
        },
        ended: info.cut_off,
        expires_at: info.expires_at,
    })
}
