//! `chat_feedback`: After a chat a counsellor closed, the one anonymous feedback question.

use super::Rule::Allow;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{FeedbackAnswer, Response};

pub const OP: Operation = Operation::new("chat_feedback", Access::visitors(Allow));

pub async fn apply(ctx: &mut Ctx<'_>, answer: FeedbackAnswer) -> Reply {
    ctx.services.intake.feedback(ctx.client(), answer)?;
    Ok(Some(Response::FeedbackRecorded))
}
