//! `leave_team_message`: The group a visitor sealed their message in is a message for the team.

use super::Rule::Own;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("leave_team_message", Access::visitors(Own));

pub async fn apply(ctx: &mut Ctx<'_>, group_id: Bytes, language: String) -> Reply {
    let delivered_to = ctx
        .services
        .intake
        .leave_team_message(ctx.client(), group_id.0.clone(), language)
        .await?;
    Ok(Some(Response::TeamMessageLeft { group_id, delivered_to }))
}
