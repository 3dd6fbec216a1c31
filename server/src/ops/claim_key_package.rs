//! `claim_key_package`: Take one key package of another client, to add it to a group. Staff
//! keys are not claimable this way (SECURITY.md, matrix note 1).

use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use crate::storage::ClientId;
use parasol_protocol::{Bytes, ErrorCode, Response};

pub const OP: Operation = Operation::new("claim_key_package", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, client_id: Bytes) -> Reply {
    if ctx.session.claims.check().is_err() {
        return Err(ServiceError::new(
            ErrorCode::LimitExceeded,
            "too many key-package claims; slow down",
        ));
    }
    let services = ctx.services;
    // Staff keys are claimed through the intake (transfers, sealed
    // team messages), not by anyone who learns one.
    if ctx.session.staff.is_none() {
        if let Ok(target) = ClientId::try_from(client_id.0.as_slice()) {
            if services.intake.is_staff_client(&target) {
                return Err(ServiceError::new(
                    ErrorCode::Forbidden,
                    "staff key packages are not claimable",
                ));
            }
        }
    }
    let claimed = services.directory.claim(&client_id.0).await?;
    if let Ok(owner) = ClientId::try_from(client_id.0.as_slice()) {
        services
            .mailboxes
            .notify_owner(&owner, claimed.owner_stock.one_time, claimed.owner_stock.last_resort);
    }
    Ok(Some(Response::KeyPackage {
        key_package: claimed.key_package.into(),
        last_resort: claimed.last_resort,
    }))
}
