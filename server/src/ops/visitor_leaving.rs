//! `visitor_leaving`: A visitor is leaving (or pressed quick exit); it acts only on their own
//! ticket, which it does not name.

use super::Rule::Allow;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("visitor_leaving", Access::visitors(Allow));

pub async fn apply(ctx: &mut Ctx<'_>, quick_exit: bool) -> Reply {
    ctx.services.intake.visitor_leaving(&ctx.client(), quick_exit)?;
    Ok(Some(Response::LeavingNoted))
}
