//! `resume_ticket`: Reclaim a ticket with its resume secret, the proof of ownership (matrix
//! note 3).

use super::Rule::Own;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("resume_ticket", Access::visitors(Own));

pub async fn apply(ctx: &mut Ctx<'_>, resume_secret: Bytes, key_packages: Vec<Bytes>) -> Reply {
    let ticket = ctx
        .services
        .intake
        .resume(ctx.client(), &resume_secret.0, key_packages)
        .await?;
    Ok(Some(Response::Ticket { ticket }))
}
