//! Application messages: checked against the sender's standing and the
//! group's epoch, then fanned out to the other members.

use super::*;

impl Delivery {
    /// Route an application message (a PrivateMessage) to every member. Only
    /// its group id, epoch and content type are read.
    pub async fn application_message(
        &self,
        rooms: Rooms<'_>,
        sender: ClientId,
        message: &[u8],
    ) -> ServiceResult<Accepted<(Vec<u8>, u64)>> {
        let max = self.limits.max_mls_message_bytes;
        if message.len() > max {
            return Err(invalid(
                ErrorCode::EnvelopeTooLarge,
                format!("MLS messages are limited to {max} bytes"),
            ));
        }
        let parsed = parse_mls(message, "message")?
            .try_into_protocol_message()
            .map_err(|_| invalid(ErrorCode::InvalidMlsMessage, "message is not a PrivateMessage"))?;
        if parsed.wire_format() != WireFormat::PrivateMessage || parsed.content_type() != ContentType::Application {
            return Err(invalid(
                ErrorCode::InvalidMlsMessage,
                "send_message takes application messages as PrivateMessage; send commits with send_commit",
            ));
        }
        let group_id = parsed.group_id().as_slice().to_vec();
        let slot = self.group(&group_id)?;
        let mut group = slot.write().await;
        let epoch = group.check_sender(&sender, parsed.epoch().as_u64())?;
        // The owner's rules (a circle's mutes) and the key registry's.
        let owner_rules = rooms.of(self.owners.owner_of(&group_id));
        owner_rules.check_message(&group_id, &sender)?;
        rooms.every_group.check_message(&group_id, &sender)?;
        let mut withheld = owner_rules.withheld(&group_id);
        withheld.extend(rooms.every_group.withheld(&group_id));
        // Skipping the sender's copy would tell a seized disk who sent it,
        // so a sender whose own mailbox is full must read it first.
        if self
            .mailboxes
            .is_full(&sender, self.limits.max_mailbox_envelopes)
            .await?
        {
            return Err(invalid(
                ErrorCode::LimitExceeded,
                "your mailbox is full; read it before sending more",
            ));
        }
        // The activity hour is stored at most once an hour per group, in
        // the same write as the message.
        let hour = now_hour();
        group.last_activity_secs = now_secs();
        let refreshed = (group.last_activity != hour).then(|| {
            group.last_activity = hour;
            (group_id.clone(), Some(group.record()))
        });
        let record = Arc::new(EnvelopeRecord {
            group_id: group_id.clone(),
            kind: EnvelopeKind::Application,
            epoch,
            message: message.to_vec(),
            ratchet_tree: Vec::new(),
            received_at: now_secs(),
        });
        // The sender gets its own message too: otherwise the one mailbox
        // without a copy would tell a seized disk who sent it.
        let deliveries = group
            .members
            .iter()
            .filter(|m| !withheld.contains(m))
            .map(|m| (*m, record.clone()))
            .collect();
        let pending = self.mailboxes.enqueue_bounded(refreshed, deliveries).await?;
        Ok(Accepted {
            pending,
            result: (group_id, epoch),
            changes_group: false,
        })
    }
}
