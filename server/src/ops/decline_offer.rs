//! `decline_offer`: Pass on an offer made to me; it goes to the next counsellor.

use super::Rule::{Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "decline_offer",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Own,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: u64) -> Reply {
    ctx.services.intake.decline(ctx.account()?, ticket_id)?;
    Ok(Some(Response::OfferDeclined { ticket_id }))
}
