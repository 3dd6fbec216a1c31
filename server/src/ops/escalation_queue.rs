//! `escalation_queue`: Escalations not yet final, for responders on duty and supervisors
//! (matrix note 7).

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "escalation_queue",
    Access {
        visitor: Deny,
        counsellor: Deny,
        supervisor: Allow,
        crisis_responder: Allow,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::Escalations {
        escalations: ctx.services.escalations.queue(ctx.account()?)?,
    }))
}
