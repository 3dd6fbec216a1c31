//! Golden test vectors shared with the TypeScript client.
//!
//! `frames.json`: valid frames. Each has the exact bytes (`hex`) and their
//! meaning as a generic MessagePack value (`value`, byte strings written as
//! `{"$bin": "<hex>"}`). Both languages must decode `hex` to `value` and
//! encode `value` back to `hex`.
//!
//! `invalid/*.json`, one file per kind of fault: bytes a decoder must
//! reject, with the error code and request id the server answers with
//! (`direction` says which decoder; a server frame is always
//! `malformed_frame` without id). Every file in that folder is checked.
//!
//! Regenerate after a deliberate wire change with
//! `PARASOL_WRITE_VECTORS=1 cargo test -p parasol-protocol --test vectors`.

use parasol_protocol::*;
use serde_json::{json, Value};

const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

fn b(len: usize, fill: u8) -> Bytes {
    Bytes(vec![fill; len])
}

fn client(id: u64, req: Request) -> ClientFrame {
    ClientFrame {
        v: PROTOCOL_VERSION,
        id,
        req,
    }
}

fn server(msg: ServerMessage) -> ServerFrame {
    ServerFrame {
        v: PROTOCOL_VERSION,
        msg,
    }
}

fn envelope(seq: u64, kind: EnvelopeKind) -> Envelope {
    Envelope {
        seq,
        group_id: b(16, 0x6b),
        kind,
        epoch: 3,
        message: b(24, 0x4d),
        ratchet_tree: (kind == EnvelopeKind::Welcome).then(|| b(8, 0x74)),
        received_at: 1_795_000_000,
    }
}

#[allow(clippy::large_enum_variant)] // test data
enum Frame {
    Client(ClientFrame),
    Server(ServerFrame),
}

fn valid_frames() -> Vec<(&'static str, Frame)> {
    use Frame::*;
    vec![
        (
            "authenticate",
            Client(client(
                1,
                Request::Authenticate {
                    proof: AuthProof::Ed25519Challenge {
                        public_key: b(32, 0xa1),
                        signature: b(64, 0x51),
                    },
                },
            )),
        ),
        (
            "publish_key_packages",
            Client(client(
                2,
                Request::PublishKeyPackages {
                    key_packages: vec![b(12, 0x01), b(12, 0x02)],
                    replace: false,
                },
            )),
        ),
        (
            "publish_key_packages_replacing",
            Client(client(
                13,
                Request::PublishKeyPackages {
                    key_packages: vec![b(12, 0x03)],
                    replace: true,
                },
            )),
        ),
        (
            "claim_key_package",
            Client(client(3, Request::ClaimKeyPackage { client_id: b(32, 0xb2) })),
        ),
        (
            "create_group",
            Client(client(
                4,
                Request::CreateGroup {
                    group_info: b(20, 0x47),
                    ratchet_tree: b(20, 0x54),
                },
            )),
        ),
        (
            "send_commit_with_welcome",
            Client(client(
                5,
                Request::SendCommit {
                    commit: b(30, 0x43),
                    welcome: Some(b(30, 0x57)),
                    group_info: Some(b(10, 0x47)),
                    ratchet_tree: Some(b(10, 0x54)),
                },
            )),
        ),
        (
            "send_commit_alone",
            Client(client(
                6,
                Request::SendCommit {
                    commit: b(30, 0x43),
                    welcome: None,
                    group_info: None,
                    ratchet_tree: None,
                },
            )),
        ),
        (
            "send_message",
            Client(client(7, Request::SendMessage { message: b(300, 0x4d) })),
        ),
        ("subscribe", Client(client(8, Request::Subscribe { after: 41 }))),
        (
            "fetch_backlog",
            Client(client(
                9,
                Request::FetchBacklog {
                    after: 70_000,
                    limit: 500,
                },
            )),
        ),
        ("ack", Client(client(10, Request::Ack { up_to: 4_294_967_296 }))),
        ("list_groups", Client(client(11, Request::ListGroups))),
        ("ping", Client(client(9_007_199_254_740_991, Request::Ping))),
        (
            "challenge",
            Server(server(ServerMessage::Challenge {
                nonce: b(32, 0xcc),
                versions: vec![1],
            })),
        ),
        (
            "response_authenticated",
            Server(server(ServerMessage::Response {
                id: 1,
                result: Response::Authenticated {
                    client_id: b(32, 0xa1),
                    mailbox_head: 12,
                    one_time_key_packages: 5,
                    last_resort_key_package: true,
                    staff: None,
                },
            })),
        ),
        (
            "response_key_packages_published",
            Server(server(ServerMessage::Response {
                id: 2,
                result: Response::KeyPackagesPublished {
                    one_time: 2,
                    last_resort: false,
                },
            })),
        ),
        (
            "response_key_package",
            Server(server(ServerMessage::Response {
                id: 3,
                result: Response::KeyPackage {
                    key_package: b(12, 0x01),
                    last_resort: false,
                },
            })),
        ),
        (
            "response_group_created",
            Server(server(ServerMessage::Response {
                id: 4,
                result: Response::GroupCreated {
                    group_id: b(16, 0x6b),
                    epoch: 0,
                },
            })),
        ),
        (
            "response_commit_accepted",
            Server(server(ServerMessage::Response {
                id: 5,
                result: Response::CommitAccepted {
                    group_id: b(16, 0x6b),
                    epoch: 4,
                },
            })),
        ),
        (
            "response_message_accepted",
            Server(server(ServerMessage::Response {
                id: 7,
                result: Response::MessageAccepted {
                    group_id: b(16, 0x6b),
                    epoch: 4,
                },
            })),
        ),
        (
            "response_subscribed",
            Server(server(ServerMessage::Response {
                id: 8,
                result: Response::Subscribed { head: 44 },
            })),
        ),
        (
            "response_backlog",
            Server(server(ServerMessage::Response {
                id: 9,
                result: Response::Backlog {
                    envelopes: vec![envelope(70_001, EnvelopeKind::Application)],
                    more: true,
                },
            })),
        ),
        (
            "response_acked",
            Server(server(ServerMessage::Response {
                id: 10,
                result: Response::Acked { up_to: 4_294_967_296 },
            })),
        ),
        (
            "response_groups",
            Server(server(ServerMessage::Response {
                id: 11,
                result: Response::Groups {
                    groups: vec![GroupSummary {
                        group_id: b(16, 0x6b),
                        epoch: 4,
                        members: 2,
                    }],
                },
            })),
        ),
        (
            "response_pong",
            Server(server(ServerMessage::Response {
                id: 12,
                result: Response::Pong,
            })),
        ),
        (
            "error_stale_epoch",
            Server(server(ServerMessage::Error {
                id: Some(5),
                code: ErrorCode::StaleEpoch,
                message: "the group is at epoch 5".into(),
                current_epoch: Some(5),
                retry_after_secs: None,
                pow: None,
                help: None,
            })),
        ),
        (
            "error_without_id",
            Server(server(ServerMessage::Error {
                id: None,
                code: ErrorCode::MalformedFrame,
                message: "not a MessagePack frame map".into(),
                current_epoch: None,
                retry_after_secs: None,
                pow: None,
                help: None,
            })),
        ),
        (
            "push_envelope_commit",
            Server(server(ServerMessage::Envelope {
                envelope: envelope(1, EnvelopeKind::Commit),
            })),
        ),
        (
            "push_envelope_welcome",
            Server(server(ServerMessage::Envelope {
                envelope: envelope(2, EnvelopeKind::Welcome),
            })),
        ),
        (
            "push_key_package_count",
            Server(server(ServerMessage::KeyPackageCount {
                one_time: 0,
                last_resort: true,
            })),
        ),
        // --- intake ---
        (
            "authenticate_staff",
            Client(client(
                1,
                Request::Authenticate {
                    proof: AuthProof::StaffSession {
                        token: "c2Vzc2lvbi10b2tlbg".into(),
                        public_key: b(32, 0xa2),
                        signature: b(64, 0x52),
                    },
                },
            )),
        ),
        ("intake_info", Client(client(20, Request::IntakeInfo))),
        (
            "request_chat",
            Client(client(
                21,
                Request::RequestChat {
                    language: "mk".into(),
                    topic: "violence".into(),
                    urgent: true,
                    key_packages: vec![b(12, 0x01)],
                    pow: Some(PowSolution {
                        challenge: b(32, 0x70),
                        nonce: b(8, 0x0e),
                    }),
                },
            )),
        ),
        (
            "request_chat_minimal",
            Client(client(
                22,
                Request::RequestChat {
                    language: "sq".into(),
                    topic: "just_talk".into(),
                    urgent: false,
                    key_packages: vec![b(12, 0x01)],
                    pow: None,
                },
            )),
        ),
        (
            "cancel_ticket",
            Client(client(23, Request::CancelTicket { ticket_id: 77 })),
        ),
        (
            "resume_ticket",
            Client(client(
                24,
                Request::ResumeTicket {
                    resume_secret: b(16, 0x5e),
                    key_packages: vec![b(12, 0x01)],
                },
            )),
        ),
        ("team_key_packages", Client(client(25, Request::TeamKeyPackages))),
        (
            "leave_team_message",
            Client(client(
                26,
                Request::LeaveTeamMessage {
                    group_id: b(16, 0x6b),
                    language: "en".into(),
                },
            )),
        ),
        (
            "set_shift",
            Client(client(
                27,
                Request::SetShift {
                    state: ShiftState::ClockedOut,
                    handover: true,
                },
            )),
        ),
        ("queue_view", Client(client(28, Request::QueueView))),
        (
            "accept_ticket",
            Client(client(29, Request::AcceptTicket { ticket_id: 77 })),
        ),
        (
            "decline_offer",
            Client(client(30, Request::DeclineOffer { ticket_id: 77 })),
        ),
        (
            "attach_chat",
            Client(client(
                31,
                Request::AttachChat {
                    ticket_id: 77,
                    group_id: b(16, 0x6b),
                },
            )),
        ),
        (
            "transfer_chat",
            Client(client(
                32,
                Request::TransferChat {
                    group_id: b(16, 0x6b),
                    to: Some(3),
                },
            )),
        ),
        (
            "close_chat",
            Client(client(
                33,
                Request::CloseChat {
                    group_id: b(16, 0x6b),
                    tag: "support".into(),
                },
            )),
        ),
        (
            "block_visitor",
            Client(client(
                34,
                Request::BlockVisitor {
                    ticket_id: 77,
                    duration_secs: 3600,
                    reason: "abusive messages".into(),
                },
            )),
        ),
        ("board", Client(client(35, Request::Board))),
        ("team_messages", Client(client(36, Request::TeamMessages))),
        (
            "take_team_message",
            Client(client(37, Request::TakeTeamMessage { group_id: b(16, 0x6b) })),
        ),
        (
            "response_authenticated_staff",
            Server(server(ServerMessage::Response {
                id: 1,
                result: Response::Authenticated {
                    client_id: b(32, 0xa2),
                    mailbox_head: 0,
                    one_time_key_packages: 10,
                    last_resort_key_package: true,
                    staff: Some(StaffSelf {
                        account_id: 3,
                        role: StaffRole::Counsellor,
                        display_name: "Ana".into(),
                        languages: vec!["mk".into(), "en".into()],
                        max_chats: 3,
                        badge: badge(),
                    }),
                },
            })),
        ),
        (
            "response_intake_info",
            Server(server(ServerMessage::Response {
                id: 20,
                result: Response::IntakeInfo {
                    open: false,
                    languages: vec!["mk".into(), "sq".into(), "en".into()],
                    topics: vec!["violence".into(), "just_talk".into()],
                    closing_tags: vec!["support".into()],
                    time_zone: "Europe/Skopje".into(),
                    opening_hours: vec![OpeningWindow {
                        weekday: 1,
                        opens: 540,
                        closes: 1020,
                    }],
                    help: help(),
                    attestation_key: b(32, 0xa7),
                    pow: Some(PowChallenge {
                        challenge: b(32, 0x70),
                        difficulty_bits: 16,
                    }),
                },
            })),
        ),
        (
            "response_ticket_waiting",
            Server(server(ServerMessage::Response {
                id: 21,
                result: Response::Ticket {
                    ticket: TicketState {
                        ticket_id: 77,
                        status: TicketStatus::Waiting {
                            position: 3,
                            estimated_wait_secs: 540,
                            nobody_available: false,
                        },
                        resume_secret: Some(b(16, 0x5e)),
                        resume_grace_secs: 600,
                    },
                },
            })),
        ),
        (
            "response_ticket_accepted",
            Server(server(ServerMessage::Response {
                id: 29,
                result: Response::TicketAccepted {
                    ticket: queue_entry(),
                    key_package: Some(b(12, 0x01)),
                    group_id: None,
                },
            })),
        ),
        (
            "response_transferred",
            Server(server(ServerMessage::Response {
                id: 32,
                result: Response::Transferred {
                    group_id: b(16, 0x6b),
                    to: badge(),
                    note_key_package: b(12, 0x02),
                },
            })),
        ),
        (
            "response_shift",
            Server(server(ServerMessage::Response {
                id: 27,
                result: Response::Shift {
                    state: ShiftState::ClockedOut,
                    active_chats: 0,
                    handed_over: 2,
                },
            })),
        ),
        (
            "response_board",
            Server(server(ServerMessage::Response {
                id: 35,
                result: Response::Board {
                    queue_depth: 4,
                    longest_wait_secs: 310,
                    staff: vec![BoardRow {
                        account_id: 7,
                        display_name: "Ana".into(),
                        role: StaffRole::Supervisor,
                        shift: ShiftState::OnBreak,
                        connected: true,
                        active_chats: 1,
                        max_chats: 3,
                    }],
                    stranded: vec![StrandedChat {
                        ticket_id: 77,
                        group_id: b(16, 0x9a),
                        language: "sq".into(),
                        counsellor: "Besa".into(),
                        counsellor_account: 9,
                        reason: StrandedReason::Offline,
                    }],
                    open_escalations: 0,
                },
            })),
        ),
        (
            "rescue_chat",
            Client(client(
                37,
                Request::RescueChat {
                    group_id: b(16, 0x9a),
                    to: Some(7),
                },
            )),
        ),
        (
            "circle_roster",
            Client(client(40, Request::CircleRoster { circle_id: 5 })),
        ),
        (
            "response_circle_roster",
            Server(server(ServerMessage::Response {
                id: 40,
                result: Response::CircleRoster {
                    circle_id: 5,
                    members: vec![
                        CircleMember {
                            client_id: b(32, 0xa1),
                            display_name: "Vesna".into(),
                            moderator: true,
                            staff: true,
                            muted: false,
                        },
                        CircleMember {
                            client_id: b(32, 0xa2),
                            display_name: "Роза".into(),
                            moderator: false,
                            staff: false,
                            muted: true,
                        },
                    ],
                },
            })),
        ),
        (
            "visitor_leaving",
            Client(client(38, Request::VisitorLeaving { quick_exit: true })),
        ),
        (
            "response_team_message_left",
            Server(server(ServerMessage::Response {
                id: 39,
                result: Response::TeamMessageLeft {
                    group_id: b(16, 0x9b),
                    delivered_to: 2,
                },
            })),
        ),
        (
            "push_visitor_presence",
            Server(server(ServerMessage::VisitorPresence {
                ticket_id: 77,
                group_id: b(16, 0x9a),
                presence: VisitorPresence::Reconnecting,
            })),
        ),
        (
            "error_rate_limited",
            Server(server(ServerMessage::Error {
                id: Some(21),
                code: ErrorCode::RateLimited,
                message: "we are very busy; please try again shortly".into(),
                current_epoch: None,
                retry_after_secs: Some(12),
                pow: None,
                help: Some(help()),
            })),
        ),
        (
            "error_pow_required",
            Server(server(ServerMessage::Error {
                id: Some(21),
                code: ErrorCode::PowRequired,
                message: "solve the puzzle".into(),
                current_epoch: None,
                retry_after_secs: None,
                pow: Some(PowChallenge {
                    challenge: b(32, 0x70),
                    difficulty_bits: 16,
                }),
                help: Some(help()),
            })),
        ),
        (
            "push_ticket_in_chat",
            Server(server(ServerMessage::TicketUpdate {
                ticket: TicketState {
                    ticket_id: 77,
                    status: TicketStatus::InChat {
                        group_id: b(16, 0x6b),
                        counsellor: badge(),
                        transferred: true,
                        add_counsellor: Some(CounsellorToAdd {
                            badge: badge(),
                            key_package: b(12, 0x02),
                        }),
                        responders: vec![],
                        rescued: true,
                    },
                    resume_secret: None,
                    resume_grace_secs: 600,
                },
            })),
        ),
        (
            "push_ticket_waiting_nobody_available",
            Server(server(ServerMessage::TicketUpdate {
                ticket: TicketState {
                    ticket_id: 77,
                    status: TicketStatus::Waiting {
                        position: 2,
                        estimated_wait_secs: 360,
                        nobody_available: true,
                    },
                    resume_secret: None,
                    resume_grace_secs: 600,
                },
            })),
        ),
        (
            "response_sos_raised_named_lines",
            Server(server(ServerMessage::Response {
                id: 46,
                result: Response::SosRaised {
                    help: Help {
                        crisis_lines: vec![CrisisLine {
                            name: "SOS line".into(),
                            names: vec![
                                LocalName {
                                    language: "mk".into(),
                                    name: "СОС линија".into(),
                                },
                                LocalName {
                                    language: "sq".into(),
                                    name: "Linja SOS".into(),
                                },
                            ],
                            number: "0800 11111".into(),
                            hours: "24/7".into(),
                        }],
                        next_open_at: None,
                    },
                    ticket: None,
                },
            })),
        ),
        (
            "push_ticket_closed",
            Server(server(ServerMessage::TicketUpdate {
                ticket: TicketState {
                    ticket_id: 77,
                    status: TicketStatus::Closed {
                        reason: ClosedReason::Blocked,
                    },
                    resume_secret: None,
                    resume_grace_secs: 600,
                },
            })),
        ),
        (
            "push_offer",
            Server(server(ServerMessage::Offer {
                ticket: queue_entry(),
                expires_in_secs: 30,
            })),
        ),
        (
            "push_offer_withdrawn",
            Server(server(ServerMessage::OfferWithdrawn { ticket_id: 77 })),
        ),
        (
            "push_queue_changed",
            Server(server(ServerMessage::QueueChanged {
                depth: 4,
                longest_wait_secs: 310,
            })),
        ),
        (
            "push_chat_assigned",
            Server(server(ServerMessage::ChatAssigned {
                group_id: b(16, 0x6b),
                ticket: queue_entry(),
                from: Some(badge()),
                remove_previous: Some(b(32, 0xa1)),
            })),
        ),
        (
            "push_readd_visitor",
            Server(server(ServerMessage::ReaddVisitor {
                group_id: b(16, 0x6b),
                old_client: b(32, 0xa1),
                key_package: b(12, 0x01),
            })),
        ),
        (
            "push_remove_revoked_members",
            Server(server(ServerMessage::RemoveRevokedMembers {
                group_id: b(16, 0x6b),
                clients: vec![b(32, 0xa1)],
            })),
        ),
        (
            "push_counsellor_reconnected",
            Server(server(ServerMessage::CounsellorReconnected {
                group_id: b(16, 0x6b),
                old_client: b(32, 0xa1),
                key_package: b(12, 0x01),
                badge: tagged_badge(),
            })),
        ),
        (
            "push_chat_ended",
            Server(server(ServerMessage::ChatEnded {
                group_id: b(16, 0x6b),
                ticket_id: 77,
            })),
        ),
        (
            "push_team_messages_waiting",
            Server(server(ServerMessage::TeamMessagesWaiting {
                messages: vec![TeamMessage {
                    group_id: b(16, 0x6b),
                    language: "mk".into(),
                    left_at: 1_795_000_000,
                }],
            })),
        ),
        // --- escalation ---
        (
            "req_escalate",
            Client(client(
                40,
                Request::Escalate {
                    escalation: signed_escalation(),
                },
            )),
        ),
        (
            "req_set_duty",
            Client(client(
                41,
                Request::SetDuty {
                    state: DutyState::OnDuty,
                },
            )),
        ),
        ("req_escalation_queue", Client(client(42, Request::EscalationQueue))),
        (
            "req_accept_escalation",
            Client(client(43, Request::AcceptEscalation { escalation_id: 901 })),
        ),
        (
            "req_resolve_escalation",
            Client(client(
                44,
                Request::ResolveEscalation {
                    escalation_id: 901,
                    outcome: EscalationOutcome::HandedOff,
                },
            )),
        ),
        ("req_sos", Client(client(45, Request::Sos { ticket_id: Some(77) }))),
        (
            "req_sos_without_ticket",
            Client(client(46, Request::Sos { ticket_id: None })),
        ),
        (
            "response_escalated",
            Server(server(ServerMessage::Response {
                id: 40,
                result: Response::Escalated {
                    escalation: escalation_entry(EscalationStatus::Open, None),
                },
            })),
        ),
        (
            "response_duty",
            Server(server(ServerMessage::Response {
                id: 41,
                result: Response::Duty {
                    state: DutyState::OffDuty,
                    open_escalations: 2,
                },
            })),
        ),
        (
            "response_escalations",
            Server(server(ServerMessage::Response {
                id: 42,
                result: Response::Escalations {
                    escalations: vec![escalation_entry(EscalationStatus::Open, None)],
                },
            })),
        ),
        (
            "response_escalation_accepted",
            Server(server(ServerMessage::Response {
                id: 43,
                result: Response::EscalationAccepted {
                    escalation: escalation_entry(EscalationStatus::Accepted, Some(responder_badge())),
                },
            })),
        ),
        (
            "response_escalation_resolved",
            Server(server(ServerMessage::Response {
                id: 44,
                result: Response::EscalationResolved {
                    escalation: escalation_entry(EscalationStatus::HandedOff, Some(responder_badge())),
                },
            })),
        ),
        (
            "response_sos_raised",
            Server(server(ServerMessage::Response {
                id: 45,
                result: Response::SosRaised {
                    help: help(),
                    ticket: Some(TicketState {
                        ticket_id: 77,
                        status: TicketStatus::Waiting {
                            position: 1,
                            estimated_wait_secs: 60,
                            nobody_available: false,
                        },
                        resume_secret: None,
                        resume_grace_secs: 600,
                    }),
                },
            })),
        ),
        (
            "push_escalation_raised",
            Server(server(ServerMessage::EscalationRaised {
                escalation: escalation_entry(EscalationStatus::Open, None),
            })),
        ),
        (
            "push_escalation_changed",
            Server(server(ServerMessage::EscalationChanged {
                escalation: escalation_entry(EscalationStatus::Resolved, Some(responder_badge())),
            })),
        ),
        (
            "push_add_responder",
            Server(server(ServerMessage::AddResponder {
                escalation_id: 901,
                group_id: b(16, 0x6b),
                responder: responder_badge(),
                key_package: b(12, 0x03),
            })),
        ),
        (
            "push_escalation_fallback",
            Server(server(ServerMessage::EscalationFallback {
                group_id: b(16, 0x6b),
                help: help(),
            })),
        ),
        (
            "push_sos_alert",
            Server(server(ServerMessage::SosAlert {
                group_id: b(16, 0x6b),
                ticket_id: 77,
            })),
        ),
        (
            "push_ticket_in_chat_with_responder",
            Server(server(ServerMessage::TicketUpdate {
                ticket: TicketState {
                    ticket_id: 77,
                    status: TicketStatus::InChat {
                        group_id: b(16, 0x6b),
                        counsellor: badge(),
                        transferred: false,
                        add_counsellor: None,
                        responders: vec![responder_badge()],
                        rescued: false,
                    },
                    resume_secret: None,
                    resume_grace_secs: 600,
                },
            })),
        ),
        (
            "chat_feedback",
            Client(client(
                38,
                Request::ChatFeedback {
                    answer: FeedbackAnswer::NotHelped,
                },
            )),
        ),
        (
            "response_feedback_recorded",
            Server(server(ServerMessage::Response {
                id: 38,
                result: Response::FeedbackRecorded,
            })),
        ),
        // Peer support circles.
        (
            "create_circle",
            Client(client(
                40,
                Request::CreateCircle {
                    group_id: b(16, 0x7c),
                    name: "Вечерен круг".into(),
                    language: "mk".into(),
                    topic: "Health and safety".into(),
                    auto_approve: true,
                },
            )),
        ),
        (
            "response_circle",
            Server(server(ServerMessage::Response {
                id: 40,
                result: Response::Circle { circle: circle_info() },
            })),
        ),
        ("list_circles", Client(client(41, Request::ListCircles))),
        (
            "response_circles",
            Server(server(ServerMessage::Response {
                id: 41,
                result: Response::Circles {
                    circles: vec![circle_info()],
                },
            })),
        ),
        (
            "create_invitation",
            Client(client(
                42,
                Request::CreateInvitation {
                    circle_id: 5,
                    expires_in_secs: 604_800,
                    max_uses: 20,
                },
            )),
        ),
        (
            "response_invitation_with_code",
            Server(server(ServerMessage::Response {
                id: 42,
                result: Response::Invitation {
                    invitation: invitation(Some("7K3MQ9ZP2XHD".into())),
                },
            })),
        ),
        (
            "list_invitations",
            Client(client(43, Request::ListInvitations { circle_id: 5 })),
        ),
        (
            "response_invitations",
            Server(server(ServerMessage::Response {
                id: 43,
                result: Response::Invitations {
                    invitations: vec![invitation(None)],
                },
            })),
        ),
        (
            "revoke_invitation",
            Client(client(
                44,
                Request::RevokeInvitation {
                    circle_id: 5,
                    invitation_id: 9,
                },
            )),
        ),
        (
            "response_invitation_revoked",
            Server(server(ServerMessage::Response {
                id: 44,
                result: Response::InvitationRevoked { invitation_id: 9 },
            })),
        ),
        (
            "preview_invitation",
            Client(client(
                45,
                Request::PreviewInvitation {
                    code: "7k3m-q9zp-2xhd".into(),
                },
            )),
        ),
        (
            "response_invitation_preview",
            Server(server(ServerMessage::Response {
                id: 45,
                result: Response::InvitationPreview {
                    preview: InvitationPreview {
                        circle_id: 5,
                        group_id: b(16, 0x5c),
                        name: "Вечерен круг".into(),
                        language: "mk".into(),
                        topic: "Health and safety".into(),
                        auto_approve: false,
                    },
                },
            })),
        ),
        (
            "join_circle",
            Client(client(
                46,
                Request::JoinCircle {
                    code: "7K3MQ9ZP2XHD".into(),
                    display_name: "Rosa".into(),
                    key_package: b(24, 0x4b),
                },
            )),
        ),
        (
            "response_join_requested",
            Server(server(ServerMessage::Response {
                id: 46,
                result: Response::JoinRequested {
                    circle_id: 5,
                    request_id: 11,
                },
            })),
        ),
        (
            "join_requests",
            Client(client(47, Request::JoinRequests { circle_id: 5 })),
        ),
        (
            "response_join_requests",
            Server(server(ServerMessage::Response {
                id: 47,
                result: Response::JoinRequests {
                    requests: vec![join_request()],
                },
            })),
        ),
        (
            "decline_join",
            Client(client(
                48,
                Request::DeclineJoin {
                    circle_id: 5,
                    request_id: 11,
                },
            )),
        ),
        (
            "response_join_declined",
            Server(server(ServerMessage::Response {
                id: 48,
                result: Response::JoinDeclined { request_id: 11 },
            })),
        ),
        (
            "set_muted",
            Client(client(
                49,
                Request::SetMuted {
                    circle_id: 5,
                    client_id: b(32, 0x3d),
                    muted: true,
                },
            )),
        ),
        (
            "response_member_muted",
            Server(server(ServerMessage::Response {
                id: 49,
                result: Response::MemberMuted {
                    circle_id: 5,
                    client_id: b(32, 0x3d),
                    muted: true,
                },
            })),
        ),
        (
            "set_moderator",
            Client(client(
                50,
                Request::SetModerator {
                    circle_id: 5,
                    client_id: b(32, 0x3d),
                    moderator: false,
                },
            )),
        ),
        (
            "response_moderator_set",
            Server(server(ServerMessage::Response {
                id: 50,
                result: Response::ModeratorSet {
                    circle_id: 5,
                    client_id: b(32, 0x3d),
                    moderator: false,
                },
            })),
        ),
        (
            "leave_circle",
            Client(client(51, Request::LeaveCircle { circle_id: 5 })),
        ),
        (
            "response_circle_left",
            Server(server(ServerMessage::Response {
                id: 51,
                result: Response::CircleLeft { circle_id: 5 },
            })),
        ),
        (
            "close_circle",
            Client(client(52, Request::CloseCircle { circle_id: 5 })),
        ),
        (
            "response_circle_closed",
            Server(server(ServerMessage::Response {
                id: 52,
                result: Response::CircleClosed { circle_id: 5 },
            })),
        ),
        (
            "push_circle_join_request",
            Server(server(ServerMessage::CircleJoinRequest {
                request: join_request(),
            })),
        ),
        (
            "push_circle_member_left",
            Server(server(ServerMessage::CircleMemberLeft {
                circle_id: 5,
                client_id: b(32, 0x3d),
            })),
        ),
        (
            "push_circle_ended",
            Server(server(ServerMessage::CircleEnded {
                circle_id: 5,
                group_id: b(16, 0x7c),
            })),
        ),
        (
            "error_muted",
            Server(server(ServerMessage::Error {
                id: Some(53),
                code: ErrorCode::Muted,
                message: "a moderator has muted you in this circle; your message was not sent".into(),
                current_epoch: None,
                retry_after_secs: None,
                pow: None,
                help: None,
            })),
        ),
        (
            "error_quota_exceeded",
            Server(server(ServerMessage::Error {
                id: Some(54),
                code: ErrorCode::QuotaExceeded,
                message: "this key has stored as much as it may for now; retry later".into(),
                current_epoch: None,
                retry_after_secs: Some(600),
                pow: None,
                help: None,
            })),
        ),
        (
            "error_storage_full",
            Server(server(ServerMessage::Error {
                id: Some(55),
                code: ErrorCode::StorageFull,
                message: "the server is low on disk space and stores nothing new for now".into(),
                current_epoch: None,
                retry_after_secs: Some(60),
                pow: None,
                help: None,
            })),
        ),
    ]
}

fn circle_info() -> CircleInfo {
    CircleInfo {
        circle_id: 5,
        group_id: b(16, 0x7c),
        name: "Вечерен круг".into(),
        language: "mk".into(),
        topic: "Health and safety".into(),
        auto_approve: true,
        moderator: true,
        members: 9,
        max_members: 100,
    }
}

fn invitation(code: Option<String>) -> InvitationState {
    InvitationState {
        invitation_id: 9,
        circle_id: 5,
        code,
        expires_at: 1_780_000_000,
        max_uses: 20,
        uses: 3,
        revoked: false,
    }
}

fn join_request() -> JoinRequest {
    JoinRequest {
        request_id: 11,
        circle_id: 5,
        client_id: b(32, 0x3d),
        display_name: "Rosa".into(),
        key_package: b(24, 0x4b),
        requested_at: 1_779_990_000,
    }
}

fn signed_escalation() -> SignedEscalation {
    SignedEscalation {
        group_id: b(16, 0x6b),
        severity: Severity::Critical,
        category: Category::SuicideRisk,
        issued_at: 1_795_000_100,
        signature: b(64, 0xe5),
    }
}

fn responder_badge() -> StaffBadge {
    StaffBadge {
        display_name: "Vesna".into(),
        role: StaffRole::CrisisResponder,
        signature_key: b(32, 0xc3),
        expires_at: 1_795_043_200,
        attestation: b(64, 0xc5),
        account_tag: Bytes::default(),
    }
}

fn escalation_entry(status: EscalationStatus, responder: Option<StaffBadge>) -> EscalationEntry {
    EscalationEntry {
        escalation_id: 901,
        status,
        request: signed_escalation(),
        language: "mk".into(),
        counsellor: badge(),
        responder,
        waited_secs: 42,
        renotified: if status == EscalationStatus::Open { 1 } else { 0 },
    }
}

fn badge() -> StaffBadge {
    StaffBadge {
        display_name: "Ana".into(),
        role: StaffRole::Counsellor,
        signature_key: b(32, 0xa2),
        expires_at: 1_795_043_200,
        attestation: b(64, 0xa5),
        account_tag: Bytes::default(),
    }
}

/// A badge of today's servers, with its account tag.
fn tagged_badge() -> StaffBadge {
    StaffBadge {
        account_tag: b(16, 0xa7),
        ..badge()
    }
}

fn help() -> Help {
    Help {
        crisis_lines: vec![CrisisLine {
            name: "SOS line".into(),
            names: Default::default(),
            number: "0800 11111".into(),
            hours: "24/7".into(),
        }],
        next_open_at: Some(1_795_050_000),
    }
}

fn queue_entry() -> QueueEntry {
    QueueEntry {
        ticket_id: 77,
        language: "mk".into(),
        topic: "violence".into(),
        urgent: true,
        waited_secs: 95,
        offered: true,
        handover: false,
    }
}

/// One invalid frame: the file (kind of fault) it belongs to, its name,
/// which decoder reads it, the bytes, and the answer.
struct Invalid {
    file: &'static str,
    name: &'static str,
    direction: &'static str,
    bytes: Vec<u8>,
    error: ErrorCode,
    request_id: Option<u64>,
    note: &'static str,
}

fn mp(value: rmpv::Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &value).unwrap();
    out
}

/// A MessagePack map with string keys, in the order given.
fn map(entries: Vec<(&str, rmpv::Value)>) -> rmpv::Value {
    rmpv::Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn bin(bytes: &[u8]) -> rmpv::Value {
    rmpv::Value::Binary(bytes.to_vec())
}

/// `{"v": 1, "id": id, "req": req}`
fn request(id: u64, req: rmpv::Value) -> rmpv::Value {
    map(vec![("v", 1.into()), ("id", id.into()), ("req", req)])
}

fn invalid_frames() -> Vec<Invalid> {
    use rmpv::Value as M;
    let ping = |v: u16, id: u64| rmp_serde::to_vec_named(&json!({"v": v, "id": id, "req": {"op": "ping"}})).unwrap();
    let mut trailing = ping(1, 3);
    trailing.push(0xc0);
    let op = |name: &str| map(vec![("op", name.into())]);
    let mut deep = M::Nil;
    for _ in 0..20 {
        deep = M::Array(vec![deep]);
    }
    let mut wide = vec![("v", M::from(1)), ("id", M::from(34)), ("req", op("ping"))];
    let keys: Vec<String> = (0..62).map(|i| format!("k{i:02}")).collect();
    wide.extend(keys.iter().map(|k| (k.as_str(), M::Nil)));
    let client = |file, name, bytes, error, request_id, note| Invalid {
        file,
        name,
        direction: "client_to_server",
        bytes,
        error,
        request_id,
        note,
    };
    let server = |file, name, bytes, note| Invalid {
        file,
        name,
        direction: "server_to_client",
        bytes,
        error: ErrorCode::MalformedFrame,
        request_id: None,
        note,
    };
    use ErrorCode::{MalformedFrame as Malformed, UnknownOperation, UnsupportedVersion};
    vec![
        // Not one readable value of the frame subset of MessagePack.
        client("framing", "empty", vec![], Malformed, None, "no bytes at all"),
        client(
            "framing",
            "reserved_byte",
            vec![0xc1],
            Malformed,
            None,
            "0xc1 is never used",
        ),
        client(
            "framing",
            "trailing_bytes",
            trailing,
            Malformed,
            Some(3),
            "bytes after the frame",
        ),
        client(
            "framing",
            "float_in_unknown_field",
            mp(map(vec![
                ("v", 1.into()),
                ("id", 31.into()),
                ("req", op("ping")),
                ("x", M::F64(1.5)),
            ])),
            Malformed,
            None,
            "a float makes the frame unreadable, even in an unknown field",
        ),
        client(
            "framing",
            "duplicate_field",
            mp(map(vec![
                ("v", 1.into()),
                ("id", 32.into()),
                ("req", op("ping")),
                ("id", 32.into()),
            ])),
            Malformed,
            None,
            "a repeated key makes the frame unreadable, so its id is not trusted",
        ),
        client(
            "framing",
            "bin_map_key",
            mp(M::Map(vec![
                (bin(b"v"), 1.into()),
                ("id".into(), 35.into()),
                ("req".into(), op("ping")),
            ])),
            Malformed,
            None,
            "map keys are strings, never bin",
        ),
        client(
            "framing",
            "nested_too_deeply",
            mp(map(vec![
                ("v", 1.into()),
                ("id", 33.into()),
                ("req", op("ping")),
                ("x", deep),
            ])),
            Malformed,
            None,
            "nesting deeper than 16 levels is unreadable",
        ),
        client(
            "framing",
            "map_too_large",
            mp(map(wide)),
            Malformed,
            None,
            "a map of more than 64 entries is unreadable",
        ),
        // A msgpack array where a map belongs.
        client(
            "shape",
            "not_a_map",
            rmp_serde::to_vec(&json!([1, 2, 3])).unwrap(),
            Malformed,
            None,
            "a frame is a map",
        ),
        client(
            "shape",
            "array_encoded_frame",
            mp(M::Array(vec![1.into(), 23.into(), op("ping")])),
            Malformed,
            None,
            "the frame's fields as an array: there is no `id` key to read",
        ),
        client(
            "shape",
            "array_encoded_request",
            mp(request(24, M::Array(vec!["ping".into()]))),
            Malformed,
            Some(24),
            "`req` as an array",
        ),
        client(
            "shape",
            "array_encoded_nested_struct",
            mp(request(
                25,
                map(vec![
                    ("op", "escalate".into()),
                    (
                        "escalation",
                        M::Array(vec![
                            bin(&[0x6b; 16]),
                            "high".into(),
                            "violence".into(),
                            5.into(),
                            bin(&[0xe5; 64]),
                        ]),
                    ),
                ]),
            )),
            Malformed,
            Some(25),
            "a nested struct as an array",
        ),
        server(
            "shape",
            "server_array_encoded_frame",
            mp(M::Array(vec![
                1.into(),
                map(vec![
                    ("type", "response".into()),
                    ("id", 1.into()),
                    ("result", map(vec![("kind", "pong".into())])),
                ]),
            ])),
            "a server frame as an array",
        ),
        // The version.
        client(
            "version",
            "missing_version",
            rmp_serde::to_vec_named(&json!({"id": 4, "req": {"op": "ping"}})).unwrap(),
            Malformed,
            Some(4),
            "no `v`",
        ),
        client(
            "version",
            "unknown_version",
            ping(2, 5),
            UnsupportedVersion,
            Some(5),
            "`v` other than 1",
        ),
        // The operation.
        client(
            "operation",
            "unknown_operation",
            rmp_serde::to_vec_named(&json!({"v": 1, "id": 6, "req": {"op": "teleport"}})).unwrap(),
            UnknownOperation,
            Some(6),
            "`op` names no operation",
        ),
        client(
            "operation",
            "bin_operation_name",
            mp(request(26, map(vec![("op", bin(b"ping"))]))),
            Malformed,
            Some(26),
            "`op` as bin, not a string",
        ),
        // A field of the wrong kind.
        client(
            "fields",
            "missing_field",
            rmp_serde::to_vec_named(&json!({"v": 1, "id": 7, "req": {"op": "ack"}})).unwrap(),
            Malformed,
            Some(7),
            "a required field left out",
        ),
        client(
            "fields",
            "wrong_field_type",
            rmp_serde::to_vec_named(&json!({"v": 1, "id": 8, "req": {"op": "ack", "up_to": "ten"}})).unwrap(),
            Malformed,
            Some(8),
            "a string for an integer",
        ),
        client(
            "fields",
            "bin_in_string",
            mp(request(
                20,
                map(vec![
                    ("op", "preview_invitation".into()),
                    ("code", bin(b"ABCDEFGHJKMN")),
                ]),
            )),
            Malformed,
            Some(20),
            "bin where a string belongs",
        ),
        client(
            "fields",
            "string_in_bin",
            mp(request(
                21,
                map(vec![("op", "send_message".into()), ("message", "hello".into())]),
            )),
            Malformed,
            Some(21),
            "a string where bin belongs",
        ),
        client(
            "fields",
            "int_array_in_bin",
            mp(request(
                22,
                map(vec![
                    ("op", "send_message".into()),
                    ("message", M::Array(vec![1.into(), 2.into(), 3.into()])),
                ]),
            )),
            Malformed,
            Some(22),
            "an array of integers where bin belongs",
        ),
        server(
            "fields",
            "server_bin_in_string",
            mp(map(vec![
                ("v", 1.into()),
                (
                    "msg",
                    map(vec![
                        ("type", "error".into()),
                        ("id", 9.into()),
                        ("code", "malformed_frame".into()),
                        ("message", bin(b"bad frame")),
                    ]),
                ),
            ])),
            "bin where a string belongs, in a server frame",
        ),
        // Integers of 2^53 and above, anywhere.
        client(
            "integers",
            "integer_2_53",
            mp(request(
                28,
                map(vec![("op", "ack".into()), ("up_to", (1u64 << 53).into())]),
            )),
            Malformed,
            Some(28),
            "2^53 in a u64 field",
        ),
        client(
            "integers",
            "integer_2_53_in_unknown_field",
            mp(map(vec![
                ("v", 1.into()),
                ("id", 30.into()),
                ("req", op("ping")),
                ("x", (1u64 << 53).into()),
            ])),
            Malformed,
            Some(30),
            "2^53 in a field the decoder otherwise ignores",
        ),
        client(
            "integers",
            "id_2_64_minus_1",
            mp(request(u64::MAX, op("ping"))),
            Malformed,
            None,
            "an id of 2^64-1 cannot be read, so the error has none",
        ),
        server(
            "integers",
            "server_integer_2_53",
            mp(map(vec![
                ("v", 1.into()),
                (
                    "msg",
                    map(vec![
                        ("type", "response".into()),
                        ("id", (1u64 << 53).into()),
                        ("result", map(vec![("kind", "pong".into())])),
                    ]),
                ),
            ])),
            "2^53 in a server frame",
        ),
    ]
}

/// MessagePack value → JSON meaning, with byte strings as `{"$bin": hex}`.
fn to_meaning(v: &rmpv::Value) -> Value {
    use rmpv::Value as M;
    match v {
        M::Nil => Value::Null,
        M::Boolean(b) => json!(b),
        M::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap(),
        M::String(s) => json!(s.as_str().unwrap()),
        M::Binary(b) => json!({"$bin": hex::encode(b)}),
        M::Array(a) => Value::Array(a.iter().map(to_meaning).collect()),
        M::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), to_meaning(v)))
                .collect(),
        ),
        other => panic!("frames never contain {other:?}"),
    }
}

fn meaning_of(bytes: &[u8]) -> Value {
    to_meaning(&rmpv::decode::read_value(&mut &bytes[..]).unwrap())
}

fn build_valid() -> Value {
    let entries: Vec<Value> = valid_frames()
        .into_iter()
        .map(|(name, frame)| {
            let (direction, bytes) = match &frame {
                Frame::Client(f) => ("client_to_server", encode_client_frame(f)),
                Frame::Server(f) => ("server_to_client", encode_server_frame(f)),
            };
            json!({"name": name, "direction": direction, "hex": hex::encode(&bytes), "value": meaning_of(&bytes)})
        })
        .collect();
    json!({"protocol_version": PROTOCOL_VERSION, "vectors": entries})
}

/// The invalid vectors by file name (`invalid/<kind>.json`), in order of first use.
fn build_invalid() -> Vec<(String, Value)> {
    let mut files: Vec<(String, Vec<Value>)> = Vec::new();
    for v in invalid_frames() {
        let entry = json!({
            "name": v.name,
            "direction": v.direction,
            "hex": hex::encode(&v.bytes),
            "error": v.error.as_str(),
            "request_id": v.request_id,
            "note": v.note,
        });
        let file = format!("invalid/{}.json", v.file);
        match files.iter_mut().find(|(f, _)| *f == file) {
            Some((_, entries)) => entries.push(entry),
            None => files.push((file, vec![entry])),
        }
    }
    files
        .into_iter()
        .map(|(file, entries)| (file, json!({"protocol_version": PROTOCOL_VERSION, "vectors": entries})))
        .collect()
}

fn check_file(file: &str, expected: Value) {
    let path = format!("{VECTOR_DIR}/{file}");
    let pretty = serde_json::to_string_pretty(&expected).unwrap() + "\n";
    if std::env::var_os("PARASOL_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        on_disk, expected,
        "{file} differs from what this code encodes; a wire change needs new vectors"
    );
}

#[test]
fn valid_vectors_match_the_encoder() {
    check_file("frames.json", build_valid());
}

#[test]
fn invalid_vectors_match_the_decoder() {
    let files = build_invalid();
    for (file, expected) in &files {
        check_file(file, expected.clone());
    }
    let mut on_disk = invalid_files();
    let mut generated: Vec<String> = files.into_iter().map(|(f, _)| f).collect();
    on_disk.sort();
    generated.sort();
    assert_eq!(
        on_disk, generated,
        "protocol/tests/vectors/invalid/ holds a file this test does not write"
    );
}

/// Every `.json` file in `invalid/`, as `invalid/<name>.json`.
fn invalid_files() -> Vec<String> {
    std::fs::read_dir(format!("{VECTOR_DIR}/invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .map(|name| format!("invalid/{name}"))
        .collect()
}

#[test]
fn valid_vectors_decode_and_reencode_exactly() {
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{VECTOR_DIR}/frames.json")).unwrap()).unwrap();
    for v in file["vectors"].as_array().unwrap() {
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        assert_eq!(meaning_of(&bytes), v["value"], "{}", v["name"]);
        let reencoded = match v["direction"].as_str().unwrap() {
            "client_to_server" => encode_client_frame(&decode_client_frame_default(&bytes).unwrap()),
            _ => encode_server_frame(&decode_server_frame(&bytes).unwrap()),
        };
        assert_eq!(hex::encode(reencoded), v["hex"].as_str().unwrap(), "{}", v["name"]);
    }
}

#[test]
fn invalid_vectors_get_their_error() {
    let mut checked = 0;
    for file in invalid_files() {
        let content: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{VECTOR_DIR}/{file}")).unwrap()).unwrap();
        assert_eq!(content["protocol_version"], PROTOCOL_VERSION, "{file}");
        for v in content["vectors"].as_array().unwrap() {
            let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
            let err = match v["direction"].as_str().unwrap() {
                "client_to_server" => decode_client_frame_default(&bytes).unwrap_err(),
                "server_to_client" => decode_server_frame(&bytes).unwrap_err(),
                other => panic!("{file}: unknown direction {other}"),
            };
            assert_eq!(
                err.code.as_str(),
                v["error"].as_str().unwrap(),
                "{file} {}: {}",
                v["name"],
                err.message
            );
            assert_eq!(err.request_id, v["request_id"].as_u64(), "{file} {}", v["name"]);
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} invalid vectors");
}
