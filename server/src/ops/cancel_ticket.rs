//! `cancel_ticket`: Visitors give up their own ticket (and end its chat).

use super::Rule::Own;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("cancel_ticket", Access::visitors(Own));

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: u64) -> Reply {
    ctx.services.intake.cancel(ctx.client(), ticket_id).await?;
    Ok(Some(Response::TicketCancelled { ticket_id }))
}
