//! `resolve_escalation`: End an accepted escalation (matrix note 8).

use super::Rule::{Allow, Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{EscalationOutcome, Response};

pub const OP: Operation = Operation::new(
    "resolve_escalation",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Allow,
        crisis_responder: Own,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, escalation_id: u64, outcome: EscalationOutcome) -> Reply {
    Ok(Some(Response::EscalationResolved {
        escalation: ctx
            .services
            .escalations
            .resolve(ctx.account()?, escalation_id, outcome)
            .await?,
    }))
}
