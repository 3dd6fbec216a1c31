//! `send_commit`: A commit for a group the caller is a member of (`not_a_member`
//! otherwise, from the group's ratchet tree); answered once durable.

use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use parasol_protocol::{Bytes, ErrorCode, Response};

pub const OP: Operation = Operation::new("send_commit", Access::OWN)
    .stores()
    .refused_while_shutting_down();

pub async fn apply(
    ctx: &mut Ctx<'_>,
    commit: Bytes,
    welcome: Option<Bytes>,
    group_info: Option<Bytes>,
    ratchet_tree: Option<Bytes>,
) -> Reply {
    if ctx.session.commits.check().is_err() {
        return Err(ServiceError::new(
            ErrorCode::LimitExceeded,
            "too many commits; slow down",
        ));
    }
    let accepted = ctx
        .services
        .delivery
        .commit(
            ctx.services.rooms(),
            ctx.client(),
            ctx.requester(),
            &commit.0,
            welcome.as_ref().map(|b| b.0.as_slice()),
            group_info.as_ref().map(|b| b.0.as_slice()),
            ratchet_tree.as_ref().map(|b| b.0.as_slice()),
        )
        .await?;
    ctx.services.metrics.commits_accepted_total.inc();
    ctx.answer_when_durable(accepted, |(group_id, epoch)| Response::CommitAccepted {
        group_id: group_id.into(),
        epoch,
    })
    .await
}
