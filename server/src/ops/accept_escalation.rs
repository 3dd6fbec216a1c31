//! `accept_escalation`: An on-duty crisis responder takes an open escalation.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "accept_escalation",
    Access {
        visitor: Deny,
        counsellor: Deny,
        supervisor: Deny,
        crisis_responder: Allow,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, escalation_id: u64) -> Reply {
    Ok(Some(Response::EscalationAccepted {
        escalation: ctx.services.escalations.accept(ctx.account()?, escalation_id).await?,
    }))
}
