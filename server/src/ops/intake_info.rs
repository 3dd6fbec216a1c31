//! `intake_info`: Opening hours, languages, topics, crisis lines, the attestation key, and
//! a proof-of-work puzzle when intake is under pressure.

use super::{Access, Ctx, Operation, Reply};

pub const OP: Operation = Operation::new("intake_info", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(ctx.services.intake.info(&mut ctx.session.pow)))
}
