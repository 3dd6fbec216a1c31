//! `escalate`: A chat's counsellor (or a supervisor) asks for a crisis responder.

use super::Rule::{Allow, Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Response, SignedEscalation};

pub const OP: Operation = Operation::new(
    "escalate",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, escalation: SignedEscalation) -> Reply {
    let account = ctx.account()?;
    let escalation = ctx
        .services
        .escalations
        .escalate(account, &ctx.session.client, escalation)
        .await?;
    Ok(Some(Response::Escalated { escalation }))
}
