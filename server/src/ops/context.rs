//! What an operation gets: its connection's session, the services, and the
//! way back to the client.

use std::sync::Arc;

use governor::DefaultDirectRateLimiter;
use parasol_protocol::{ErrorCode, Response};
use tokio::sync::Semaphore;

use crate::error::{ServiceError, ServiceResult};
use crate::intake::abuse::SourceKey;
use crate::intake::StaffSession;
pub use crate::mailbox::push::Push;
use crate::net::outbox::{error_frame, response, Outbox};
use crate::storage::ClientId;
use crate::Services;

/// An authenticated connection's state, kept between its requests.
pub struct Session {
    pub client: ClientId,
    pub connection_id: u64,
    /// Set for a staff session; visitors and other anonymous clients have none.
    pub staff: Option<StaffSession>,
    /// The salted hash of the client's address (memory only).
    pub source: Option<SourceKey>,
    /// The proof-of-work puzzle this connection was last given.
    pub pow: Option<parasol_protocol::PowChallenge>,
    /// Anonymous connections send at a bounded rate.
    pub frames: Option<DefaultDirectRateLimiter>,
    pub push: Option<Push>,
    pub claims: DefaultDirectRateLimiter,
    /// Commits are validated with public-key operations and reach every
    /// member: a member may not flood a group with them.
    pub commits: DefaultDirectRateLimiter,
}

/// One request in flight: who sent it (`session`), what it may use
/// (`services`), and where its answer goes.
pub struct Ctx<'a> {
    pub services: &'a Arc<Services>,
    pub session: &'a mut Session,
    pub outbox: &'a Outbox,
    /// Bounds the durable writes a connection has in flight.
    pub inflight: &'a Arc<Semaphore>,
    /// The request's id, echoed in its answer.
    pub id: u64,
}

impl Ctx<'_> {
    pub fn client(&self) -> ClientId {
        self.session.client
    }

    /// Whose pool and budget heavy validation for this session draws on.
    pub fn requester(&self) -> crate::validation::Requester {
        crate::validation::Requester {
            staff: self.session.staff.is_some(),
            source: self.session.source,
        }
    }

    /// The staff account of the session (operations whose access rule
    /// denies visitors are never dispatched without one).
    pub fn account(&self) -> ServiceResult<u64> {
        self.session
            .staff
            .as_ref()
            .map(|s| s.account_id)
            .ok_or_else(|| ServiceError::new(ErrorCode::Forbidden, "staff only"))
    }

    /// Answer now, ahead of the pushes the operation starts; the operation
    /// then returns `Ok(None)`.
    pub fn answer_now(&self, result: Response) {
        self.outbox.send(response(self.id, result));
    }

    /// Push what the mailbox holds beyond the client's cursor, after the
    /// answer was sent.
    pub async fn push_pending(&mut self) {
        crate::mailbox::push::push_after_answer(self.services, self.session, self.outbox).await;
    }

    /// Spawn the wait for durability; the answer is sent when it is done.
    pub async fn answer_when_durable<T: Send + 'static>(
        &self,
        accepted: crate::delivery::Accepted<T>,
        to_response: impl FnOnce(T) -> Response + Send + 'static,
    ) -> ServiceResult<Option<Response>> {
        // Waiting here (not refusing) is the back-pressure on pipelining clients.
        let permit = self
            .inflight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::internal())?;
        let services = self.services.clone();
        let outbox = self.outbox.clone();
        let id = self.id;
        tokio::spawn(async move {
            let msg = match services.delivery.finish(accepted).await {
                Ok(result) => response(id, to_response(result)),
                Err(e) => error_frame(Some(id), &e),
            };
            outbox.send(msg);
            drop(permit);
        });
        Ok(None)
    }
}
