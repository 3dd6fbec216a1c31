//! `sos`: A visitor in danger: the emergency numbers at once; with their own
//! ticket, raised to urgent or their counsellor alerted (matrix note 4).

use super::Rule::Own;
use super::{Access, Ctx, Operation, Reply};

pub const OP: Operation = Operation::new("sos", Access::visitors(Own));

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: Option<u64>) -> Reply {
    ctx.services.escalations.sos(ctx.client(), ticket_id).await.map(Some)
}
