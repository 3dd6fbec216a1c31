//! The wire description of protocol version 1: every frame, request,
//! response, notice and nested type, field by field in wire order.
//!
//! `verify` checks each entry against the real serde encoding of the Rust
//! type it names (field names and order, MessagePack kinds, integer widths,
//! when a field is left out, the variant names), so this table cannot
//! drift from `protocol/src`; the TypeScript types and codec tables are
//! generated from it.

use parasol_protocol as p;

use crate::model::*;

/// In dependency order: a definition comes after the ones it names (the
/// generated codec tables are constants that refer to earlier ones).
pub fn protocol() -> Vec<Def> {
    vec![
        strings::<p::StaffRole>("StaffRole", "STAFF_ROLES", "a staff role"),
        strings::<p::ShiftState>("ShiftState", "SHIFT_STATES", "a shift state"),
        strings::<p::ClosedReason>("ClosedReason", "CLOSED_REASONS", "a closing reason"),
        strings::<p::StrandedReason>("StrandedReason", "STRANDED_REASONS", "offline or clocked_out"),
        strings::<p::VisitorPresence>("VisitorPresence", "VISITOR_PRESENCES", "a visitor presence"),
        strings::<p::FeedbackAnswer>("FeedbackAnswer", "FEEDBACK_ANSWERS", "helped, somewhat or not_helped"),
        tagged::<p::AuthProof>(
            "AuthProof",
            "method",
            vec![
                variant("ed25519_challenge", vec![req("public_key", Bin), req("signature", Bin)]),
                variant(
                    "staff_session",
                    vec![req("token", Str), req("public_key", Bin), req("signature", Bin)],
                ),
            ],
        ),
        structure::<p::PowChallenge>("PowChallenge", vec![req("challenge", Bin), req("difficulty_bits", U8)]),
        structure::<p::PowSolution>("PowSolution", vec![req("challenge", Bin), req("nonce", Bin)]),
        structure::<p::LocalName>("LocalName", vec![req("language", Str), req("name", Str)]),
        structure::<p::CrisisLine>(
            "CrisisLine",
            vec![
                req("name", Str),
                non_empty("names", named("LocalName")),
                req("number", Str),
                req("hours", Str),
            ],
        ),
        structure::<p::Help>(
            "Help",
            vec![req("crisis_lines", list(named("CrisisLine"))), opt("next_open_at", U64)],
        ),
        structure::<p::OpeningWindow>(
            "OpeningWindow",
            vec![req("weekday", U8), req("opens", U16), req("closes", U16)],
        ),
        structure::<p::StaffBadge>(
            "StaffBadge",
            vec![
                req("display_name", Str),
                req("role", named("StaffRole")),
                req("signature_key", Bin),
                req("expires_at", U64),
                req("attestation", Bin),
                opt("account_tag", Bin),
            ],
        ),
        structure::<p::CounsellorToAdd>(
            "CounsellorToAdd",
            vec![req("badge", named("StaffBadge")), req("key_package", Bin)],
        ),
        tagged::<p::TicketStatus>(
            "TicketStatus",
            "state",
            vec![
                variant(
                    "waiting",
                    vec![
                        req("position", U32),
                        req("estimated_wait_secs", U32),
                        flag("nobody_available"),
                    ],
                ),
                variant(
                    "in_chat",
                    vec![
                        req("group_id", Bin),
                        req("counsellor", named("StaffBadge")),
                        flag("transferred"),
                        opt("add_counsellor", named("CounsellorToAdd")),
                        non_empty("responders", named("StaffBadge")),
                        flag("rescued"),
                    ],
                ),
                variant("closed", vec![req("reason", named("ClosedReason"))]),
            ],
        ),
        structure::<p::TicketState>(
            "TicketState",
            vec![
                req("ticket_id", U64),
                req("status", named("TicketStatus")),
                opt("resume_secret", Bin),
                req("resume_grace_secs", U32),
            ],
        ),
        structure::<p::QueueEntry>(
            "QueueEntry",
            vec![
                req("ticket_id", U64),
                req("language", Str),
                req("topic", Str),
                req("urgent", Bool),
                req("waited_secs", U32),
                req("offered", Bool),
                flag("handover"),
            ],
        ),
        structure::<p::BoardRow>(
            "BoardRow",
            vec![
                req("account_id", U64),
                req("display_name", Str),
                req("role", named("StaffRole")),
                req("shift", named("ShiftState")),
                req("connected", Bool),
                req("active_chats", U32),
                req("max_chats", U32),
            ],
        ),
        structure::<p::StrandedChat>(
            "StrandedChat",
            vec![
                req("ticket_id", U64),
                req("group_id", Bin),
                req("language", Str),
                req("counsellor", Str),
                req("counsellor_account", U64),
                req("reason", named("StrandedReason")),
            ],
        ),
        structure::<p::TeamMessage>(
            "TeamMessage",
            vec![req("group_id", Bin), req("language", Str), req("left_at", U64)],
        ),
        structure::<p::StaffSelf>(
            "StaffSelf",
            vec![
                req("account_id", U64),
                req("role", named("StaffRole")),
                req("display_name", Str),
                req("languages", list(Str)),
                req("max_chats", U32),
                req("badge", named("StaffBadge")),
            ],
        ),
        strings::<p::Severity>("Severity", "SEVERITIES", "high or critical"),
        strings::<p::Category>("Category", "CATEGORIES", "an escalation category"),
        strings::<p::EscalationStatus>("EscalationStatus", "ESCALATION_STATUSES", "an escalation status"),
        strings::<p::EscalationOutcome>("EscalationOutcome", "ESCALATION_OUTCOMES", "resolved or handed_off"),
        strings::<p::DutyState>("DutyState", "DUTY_STATES", "on_duty or off_duty"),
        structure::<p::SignedEscalation>(
            "SignedEscalation",
            vec![
                req("group_id", Bin),
                req("severity", named("Severity")),
                req("category", named("Category")),
                req("issued_at", U64),
                req("signature", Bin),
            ],
        ),
        structure::<p::EscalationEntry>(
            "EscalationEntry",
            vec![
                req("escalation_id", U64),
                req("status", named("EscalationStatus")),
                req("request", named("SignedEscalation")),
                req("language", Str),
                req("counsellor", named("StaffBadge")),
                opt("responder", named("StaffBadge")),
                req("waited_secs", U32),
                non_zero("renotified", U32),
            ],
        ),
        structure::<p::CircleInfo>(
            "CircleInfo",
            vec![
                req("circle_id", U64),
                req("group_id", Bin),
                req("name", Str),
                req("language", Str),
                req("topic", Str),
                req("auto_approve", Bool),
                req("moderator", Bool),
                req("members", U32),
                req("max_members", U32),
            ],
        ),
        structure::<p::InvitationState>(
            "InvitationState",
            vec![
                req("invitation_id", U64),
                req("circle_id", U64),
                opt("code", Str),
                req("expires_at", U64),
                req("max_uses", U32),
                req("uses", U32),
                req("revoked", Bool),
            ],
        ),
        structure::<p::InvitationPreview>(
            "InvitationPreview",
            vec![
                req("circle_id", U64),
                req("group_id", Bin),
                req("name", Str),
                req("language", Str),
                req("topic", Str),
                req("auto_approve", Bool),
            ],
        ),
        structure::<p::CircleMember>(
            "CircleMember",
            vec![
                req("client_id", Bin),
                req("display_name", Str),
                req("moderator", Bool),
                flag("staff"),
                flag("muted"),
            ],
        ),
        structure::<p::JoinRequest>(
            "JoinRequest",
            vec![
                req("request_id", U64),
                req("circle_id", U64),
                req("client_id", Bin),
                req("display_name", Str),
                req("key_package", Bin),
                req("requested_at", U64),
            ],
        ),
        tagged::<p::Request>(
            "Request",
            "op",
            vec![
                variant("authenticate", vec![req("proof", named("AuthProof"))]),
                variant(
                    "publish_key_packages",
                    vec![req("key_packages", list(Bin)), flag("replace")],
                ),
                variant("claim_key_package", vec![req("client_id", Bin)]),
                variant("create_group", vec![req("group_info", Bin), req("ratchet_tree", Bin)]),
                variant(
                    "send_commit",
                    vec![
                        req("commit", Bin),
                        opt("welcome", Bin),
                        opt("group_info", Bin),
                        opt("ratchet_tree", Bin),
                    ],
                ),
                variant("send_message", vec![req("message", Bin)]),
                variant("subscribe", vec![req("after", U64)]),
                variant("fetch_backlog", vec![req("after", U64), req("limit", U32)]),
                variant("ack", vec![req("up_to", U64)]),
                variant("list_groups", vec![]),
                variant("ping", vec![]),
                variant("intake_info", vec![]),
                variant(
                    "request_chat",
                    vec![
                        req("language", Str),
                        req("topic", Str),
                        flag("urgent"),
                        req("key_packages", list(Bin)),
                        opt("pow", named("PowSolution")),
                    ],
                ),
                variant("cancel_ticket", vec![req("ticket_id", U64)]),
                variant(
                    "resume_ticket",
                    vec![req("resume_secret", Bin), non_empty("key_packages", Bin)],
                ),
                variant("team_key_packages", vec![]),
                variant("leave_team_message", vec![req("group_id", Bin), req("language", Str)]),
                variant("visitor_leaving", vec![flag("quick_exit")]),
                variant("set_shift", vec![req("state", named("ShiftState")), flag("handover")]),
                variant("queue_view", vec![]),
                variant("accept_ticket", vec![req("ticket_id", U64)]),
                variant("decline_offer", vec![req("ticket_id", U64)]),
                variant("attach_chat", vec![req("ticket_id", U64), req("group_id", Bin)]),
                variant("transfer_chat", vec![req("group_id", Bin), opt("to", U64)]),
                variant("close_chat", vec![req("group_id", Bin), req("tag", Str)]),
                variant(
                    "block_visitor",
                    vec![req("ticket_id", U64), req("duration_secs", U32), req("reason", Str)],
                ),
                variant("board", vec![]),
                variant("team_messages", vec![]),
                variant("take_team_message", vec![req("group_id", Bin)]),
                variant("rescue_chat", vec![req("group_id", Bin), opt("to", U64)]),
                variant("escalate", vec![req("escalation", named("SignedEscalation"))]),
                variant("set_duty", vec![req("state", named("DutyState"))]),
                variant("escalation_queue", vec![]),
                variant("accept_escalation", vec![req("escalation_id", U64)]),
                variant(
                    "resolve_escalation",
                    vec![req("escalation_id", U64), req("outcome", named("EscalationOutcome"))],
                ),
                variant("sos", vec![opt("ticket_id", U64)]),
                variant("chat_feedback", vec![req("answer", named("FeedbackAnswer"))]),
                variant(
                    "create_circle",
                    vec![
                        req("group_id", Bin),
                        req("name", Str),
                        req("language", Str),
                        req("topic", Str),
                        flag("auto_approve"),
                    ],
                ),
                variant("list_circles", vec![]),
                variant(
                    "create_invitation",
                    vec![req("circle_id", U64), req("expires_in_secs", U32), req("max_uses", U32)],
                ),
                variant("list_invitations", vec![req("circle_id", U64)]),
                variant(
                    "revoke_invitation",
                    vec![req("circle_id", U64), req("invitation_id", U64)],
                ),
                variant("preview_invitation", vec![req("code", Str)]),
                variant(
                    "join_circle",
                    vec![req("code", Str), req("display_name", Str), req("key_package", Bin)],
                ),
                variant("join_requests", vec![req("circle_id", U64)]),
                variant("circle_roster", vec![req("circle_id", U64)]),
                variant("decline_join", vec![req("circle_id", U64), req("request_id", U64)]),
                variant(
                    "set_muted",
                    vec![req("circle_id", U64), req("client_id", Bin), req("muted", Bool)],
                ),
                variant(
                    "set_moderator",
                    vec![req("circle_id", U64), req("client_id", Bin), req("moderator", Bool)],
                ),
                variant("leave_circle", vec![req("circle_id", U64)]),
                variant("close_circle", vec![req("circle_id", U64)]),
            ],
        )
        .listed_as("Operation", Some("OPERATIONS")),
        structure::<p::ClientFrame>(
            "ClientFrame",
            vec![req("v", U16), req("id", U64), req("req", named("Request"))],
        ),
        strings::<p::EnvelopeKind>("EnvelopeKind", "ENVELOPE_KINDS", "commit, application or welcome"),
        structure::<p::Envelope>(
            "Envelope",
            vec![
                req("seq", U64),
                req("group_id", Bin),
                req("kind", named("EnvelopeKind")),
                req("epoch", U64),
                req("message", Bin),
                opt("ratchet_tree", Bin),
                req("received_at", U64),
            ],
        ),
        structure::<p::GroupSummary>(
            "GroupSummary",
            vec![req("group_id", Bin), req("epoch", U64), req("members", U32)],
        ),
        tagged::<p::Response>(
            "Response",
            "kind",
            vec![
                variant(
                    "authenticated",
                    vec![
                        req("client_id", Bin),
                        req("mailbox_head", U64),
                        req("one_time_key_packages", U32),
                        req("last_resort_key_package", Bool),
                        opt("staff", named("StaffSelf")),
                    ],
                ),
                variant(
                    "key_packages_published",
                    vec![req("one_time", U32), req("last_resort", Bool)],
                ),
                variant("key_package", vec![req("key_package", Bin), req("last_resort", Bool)]),
                variant("group_created", vec![req("group_id", Bin), req("epoch", U64)]),
                variant("commit_accepted", vec![req("group_id", Bin), req("epoch", U64)]),
                variant("message_accepted", vec![req("group_id", Bin), req("epoch", U64)]),
                variant("subscribed", vec![req("head", U64)]),
                variant(
                    "backlog",
                    vec![req("envelopes", list(named("Envelope"))), req("more", Bool)],
                ),
                variant("acked", vec![req("up_to", U64)]),
                variant("groups", vec![req("groups", list(named("GroupSummary")))]),
                variant("pong", vec![]),
                variant(
                    "intake_info",
                    vec![
                        req("open", Bool),
                        req("languages", list(Str)),
                        req("topics", list(Str)),
                        req("closing_tags", list(Str)),
                        req("time_zone", Str),
                        req("opening_hours", list(named("OpeningWindow"))),
                        req("help", named("Help")),
                        req("attestation_key", Bin),
                        opt("pow", named("PowChallenge")),
                    ],
                ),
                variant("ticket", vec![req("ticket", named("TicketState"))]),
                variant("ticket_cancelled", vec![req("ticket_id", U64)]),
                variant("team_key_packages", vec![req("key_packages", list(Bin))]),
                variant(
                    "team_message_left",
                    vec![req("group_id", Bin), req("delivered_to", U32)],
                ),
                variant("leaving_noted", vec![]),
                variant(
                    "shift",
                    vec![
                        req("state", named("ShiftState")),
                        req("active_chats", U32),
                        non_zero("handed_over", U32),
                    ],
                ),
                variant("queue", vec![req("tickets", list(named("QueueEntry")))]),
                variant(
                    "ticket_accepted",
                    vec![
                        req("ticket", named("QueueEntry")),
                        opt("key_package", Bin),
                        opt("group_id", Bin),
                    ],
                ),
                variant("offer_declined", vec![req("ticket_id", U64)]),
                variant("chat_attached", vec![req("ticket_id", U64), req("group_id", Bin)]),
                variant(
                    "transferred",
                    vec![
                        req("group_id", Bin),
                        req("to", named("StaffBadge")),
                        req("note_key_package", Bin),
                    ],
                ),
                variant("chat_closed", vec![req("group_id", Bin)]),
                variant("blocked", vec![req("ticket_id", U64), req("until", U64)]),
                variant(
                    "board",
                    vec![
                        req("queue_depth", U32),
                        req("longest_wait_secs", U32),
                        req("staff", list(named("BoardRow"))),
                        non_empty("stranded", named("StrandedChat")),
                        req("open_escalations", U32),
                    ],
                ),
                variant("team_messages", vec![req("messages", list(named("TeamMessage")))]),
                variant("team_message_taken", vec![req("group_id", Bin)]),
                variant(
                    "chat_rescued",
                    vec![req("group_id", Bin), req("to", named("StaffBadge"))],
                ),
                variant("escalated", vec![req("escalation", named("EscalationEntry"))]),
                variant(
                    "duty",
                    vec![req("state", named("DutyState")), req("open_escalations", U32)],
                ),
                variant("escalations", vec![req("escalations", list(named("EscalationEntry")))]),
                variant("escalation_accepted", vec![req("escalation", named("EscalationEntry"))]),
                variant("escalation_resolved", vec![req("escalation", named("EscalationEntry"))]),
                variant(
                    "sos_raised",
                    vec![req("help", named("Help")), opt("ticket", named("TicketState"))],
                ),
                variant("feedback_recorded", vec![]),
                variant("circle", vec![req("circle", named("CircleInfo"))]),
                variant("circles", vec![req("circles", list(named("CircleInfo")))]),
                variant("invitation", vec![req("invitation", named("InvitationState"))]),
                variant("invitations", vec![req("invitations", list(named("InvitationState")))]),
                variant("invitation_revoked", vec![req("invitation_id", U64)]),
                variant("invitation_preview", vec![req("preview", named("InvitationPreview"))]),
                variant("join_requested", vec![req("circle_id", U64), req("request_id", U64)]),
                variant("join_requests", vec![req("requests", list(named("JoinRequest")))]),
                variant(
                    "circle_roster",
                    vec![req("circle_id", U64), req("members", list(named("CircleMember")))],
                ),
                variant("join_declined", vec![req("request_id", U64)]),
                variant(
                    "member_muted",
                    vec![req("circle_id", U64), req("client_id", Bin), req("muted", Bool)],
                ),
                variant(
                    "moderator_set",
                    vec![req("circle_id", U64), req("client_id", Bin), req("moderator", Bool)],
                ),
                variant("circle_left", vec![req("circle_id", U64)]),
                variant("circle_closed", vec![req("circle_id", U64)]),
            ],
        )
        .listed_as("ResponseKind", None),
        strings::<p::ErrorCode>("ErrorCode", "ERROR_CODES", "an error code of protocol version 1"),
        tagged::<p::ServerMessage>(
            "ServerMessage",
            "type",
            vec![
                variant("challenge", vec![req("nonce", Bin), req("versions", list(U16))]),
                variant("response", vec![req("id", U64), req("result", named("Response"))]),
                variant(
                    "error",
                    vec![
                        opt("id", U64),
                        req("code", named("ErrorCode")),
                        req("message", Str),
                        opt("current_epoch", U64),
                        opt("retry_after_secs", U32),
                        opt("pow", named("PowChallenge")),
                        opt("help", named("Help")),
                    ],
                ),
                variant("envelope", vec![req("envelope", named("Envelope"))]),
                variant(
                    "key_package_count",
                    vec![req("one_time", U32), req("last_resort", Bool)],
                ),
                variant("ticket_update", vec![req("ticket", named("TicketState"))]),
                variant(
                    "offer",
                    vec![req("ticket", named("QueueEntry")), req("expires_in_secs", U32)],
                ),
                variant("offer_withdrawn", vec![req("ticket_id", U64)]),
                variant("queue_changed", vec![req("depth", U32), req("longest_wait_secs", U32)]),
                variant(
                    "chat_assigned",
                    vec![
                        req("group_id", Bin),
                        req("ticket", named("QueueEntry")),
                        opt("from", named("StaffBadge")),
                        opt("remove_previous", Bin),
                    ],
                ),
                variant(
                    "readd_visitor",
                    vec![req("group_id", Bin), req("old_client", Bin), req("key_package", Bin)],
                ),
                variant(
                    "visitor_presence",
                    vec![
                        req("ticket_id", U64),
                        req("group_id", Bin),
                        req("presence", named("VisitorPresence")),
                    ],
                ),
                variant("chat_ended", vec![req("group_id", Bin), req("ticket_id", U64)]),
                variant(
                    "remove_revoked_members",
                    vec![req("group_id", Bin), req("clients", list(Bin))],
                ),
                variant(
                    "counsellor_reconnected",
                    vec![
                        req("group_id", Bin),
                        req("old_client", Bin),
                        req("key_package", Bin),
                        req("badge", named("StaffBadge")),
                    ],
                ),
                variant(
                    "team_messages_waiting",
                    vec![req("messages", list(named("TeamMessage")))],
                ),
                variant("escalation_raised", vec![req("escalation", named("EscalationEntry"))]),
                variant("escalation_changed", vec![req("escalation", named("EscalationEntry"))]),
                variant(
                    "add_responder",
                    vec![
                        req("escalation_id", U64),
                        req("group_id", Bin),
                        req("responder", named("StaffBadge")),
                        req("key_package", Bin),
                    ],
                ),
                variant(
                    "escalation_fallback",
                    vec![req("group_id", Bin), req("help", named("Help"))],
                ),
                variant("sos_alert", vec![req("group_id", Bin), req("ticket_id", U64)]),
                variant("circle_join_request", vec![req("request", named("JoinRequest"))]),
                variant("circle_member_left", vec![req("circle_id", U64), req("client_id", Bin)]),
                variant("circle_ended", vec![req("circle_id", U64), req("group_id", Bin)]),
            ],
        )
        .listed_as("ServerMessageType", None),
        structure::<p::ServerFrame>("ServerFrame", vec![req("v", U16), req("msg", named("ServerMessage"))]),
    ]
}
