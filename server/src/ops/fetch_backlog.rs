//! `fetch_backlog`: Read up to `limit` envelopes above `after` without subscribing.

use super::{Access, Ctx, Operation, Reply};
use crate::net::outbox::envelope_of;
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("fetch_backlog", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, after: u64, limit: u32) -> Reply {
    let limits = &ctx.services.config.limits;
    let client = ctx.client();
    let limit = limit.clamp(1, limits.max_fetch_limit) as usize;
    // A page never exceeds the frame limit; `more` says there is more.
    let page_bytes = limits.max_frame_bytes / 2;
    let head = ctx.services.mailboxes.head(&client).await?;
    let entries = ctx.services.mailboxes.read(&client, after, limit, page_bytes).await?;
    let more = entries.last().is_some_and(|(seq, _)| *seq < head);
    let envelopes = entries.iter().map(|(seq, r)| envelope_of(*seq, r)).collect();
    Ok(Some(Response::Backlog { envelopes, more }))
}
