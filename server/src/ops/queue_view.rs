//! `queue_view`: The waiting tickets I may take, no content (matrix note 5).

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "queue_view",
    Access {
        visitor: Deny,
        counsellor: Allow,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Allow,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::Queue {
        tickets: ctx.services.intake.queue_view(ctx.account()?)?,
    }))
}
