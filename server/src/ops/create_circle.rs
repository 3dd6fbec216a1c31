//! `create_circle`: Counsellors and supervisors make a group of their own, of which they are
//! the only member, a circle they moderate.

use super::Rule::{Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use parasol_protocol::{Bytes, ErrorCode, Response};

pub const OP: Operation = Operation::new(
    "create_circle",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Own,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(
    ctx: &mut Ctx<'_>,
    group_id: Bytes,
    name: String,
    language: String,
    topic: String,
    auto_approve: bool,
) -> Reply {
    let staff = ctx
        .session
        .staff
        .as_ref()
        .ok_or_else(|| ServiceError::new(ErrorCode::Forbidden, "counsellors and supervisors create circles"))?;
    let circle = ctx
        .services
        .circles
        .create(staff, group_id.0, &name, &language, &topic, auto_approve)
        .await?;
    Ok(Some(Response::Circle { circle }))
}
