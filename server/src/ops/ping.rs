//! `ping`: Keep-alive; answered with `pong`.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("ping", Access::EVERYONE);

pub async fn apply(_ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::Pong))
}
