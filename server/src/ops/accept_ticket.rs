//! `accept_ticket`: Take a ticket offered to me or picked from the queue view.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};

pub const OP: Operation = Operation::new(
    "accept_ticket",
    Access {
        visitor: Deny,
        counsellor: Allow,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: u64) -> Reply {
    ctx.services.intake.accept(ctx.account()?, ticket_id).await.map(Some)
}
