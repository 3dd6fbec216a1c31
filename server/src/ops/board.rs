//! `board`: Supervisors and admins: queue depth, longest wait, who is on shift.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};

pub const OP: Operation = Operation::new(
    "board",
    Access {
        visitor: Deny,
        counsellor: Deny,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Allow,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    ctx.services.intake.board(ctx.account()?).map(Some)
}
