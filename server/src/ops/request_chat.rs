//! `request_chat`: Visitors ask for a chat.

use super::Rule::Allow;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, PowSolution, Response};

pub const OP: Operation = Operation::new("request_chat", Access::visitors(Allow)).stores();

pub async fn apply(
    ctx: &mut Ctx<'_>,
    language: String,
    topic: String,
    urgent: bool,
    key_packages: Vec<Bytes>,
    pow: Option<PowSolution>,
) -> Reply {
    let session = &mut *ctx.session;
    let ticket = ctx
        .services
        .intake
        .request_chat(
            session.client,
            session.source,
            &mut session.pow,
            language,
            topic,
            urgent,
            key_packages,
            pow,
        )
        .await?;
    Ok(Some(Response::Ticket { ticket }))
}
