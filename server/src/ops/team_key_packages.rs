//! `team_key_packages`: Outside opening hours: one key package of each counsellor, to seal a
//! message to the team (matrix note 13).

use super::Rule::Allow;
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("team_key_packages", Access::visitors(Allow));

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::TeamKeyPackages {
        key_packages: ctx
            .services
            .intake
            .team_key_packages(ctx.client(), ctx.session.source)
            .await?,
    }))
}
