//! The authorization matrix of SECURITY.md, performed: the operations and
//! their access rules come from the server's code (`parasol_server::ops`,
//! one file per operation), the other rows (HTTP routes, the admin CLI) and
//! the unauthenticated and disabled columns from the table between
//! `<!-- authz-matrix:start -->` and `<!-- authz-matrix:end -->`. For every
//! cell the test performs the operation as that role against the real
//! server process, with real arguments where they are cheap, and checks
//! that the server allows or refuses it as the cell says. (That the table
//! and the rules in code agree is also checked, in milliseconds, by
//! `server/src/ops/tests.rs`.)
//!
//! A cell is observed from one or two attempts: on the role's own object
//! (or on any object, when the role can own none), and, for operations on
//! an object, on somebody else's. Refused on the first: `deny`. Allowed on
//! the first and refused on the second: `own`. Allowed on both: `allow`.
//! "Refused" means an authorization refusal (`forbidden`, `not_a_member`,
//! `not_authenticated`, `authentication_failed`, HTTP 401/403); on
//! somebody else's object `unknown_ticket`, `unknown_escalation` and
//! `unknown_group` count too, since there the server hides that the object
//! exists. Any other error is not an authorization refusal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parasol_client::mls::{CommitOp, MlsEngine};
use parasol_client::{Client, ClientError, ClientState, Connection, ErrorCode, Identity, Request};
use parasol_protocol::{
    Bytes, Category, DutyState, EscalationOutcome, FeedbackAnswer, PowSolution, ShiftState, SignedEscalation,
    OPERATIONS,
};
use parasol_server::ops::{self as server_ops, Role as CodeRole, Rule};
use parasol_tests::drive::{wait_notice, WAIT};
use parasol_tests::{create_staff, http_request, staff_login, ServerProcess};

const START: &str = "<!-- authz-matrix:start -->";
const END: &str = "<!-- authz-matrix:end -->";

/// The matrix's columns, in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Unauthenticated,
    Visitor,
    Counsellor,
    Supervisor,
    CrisisResponder,
    Admin,
    Disabled,
}

impl Role {
    const ALL: [Role; 7] = [
        Role::Unauthenticated,
        Role::Visitor,
        Role::Counsellor,
        Role::Supervisor,
        Role::CrisisResponder,
        Role::Admin,
        Role::Disabled,
    ];

    /// The role as the server's access rules name it; unauthenticated
    /// connections and disabled accounts never reach an operation.
    fn in_code(self) -> Option<CodeRole> {
        match self {
            Role::Visitor => Some(CodeRole::Visitor),
            Role::Counsellor => Some(CodeRole::Counsellor),
            Role::Supervisor => Some(CodeRole::Supervisor),
            Role::CrisisResponder => Some(CodeRole::CrisisResponder),
            Role::Admin => Some(CodeRole::Admin),
            Role::Unauthenticated | Role::Disabled => None,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Role::Unauthenticated => "unauthenticated",
            Role::Visitor => "anonymous visitor",
            Role::Counsellor => "counsellor",
            Role::Supervisor => "supervisor",
            Role::CrisisResponder => "crisis responder",
            Role::Admin => "admin",
            Role::Disabled => "disabled account",
        }
    }
}

/// What a cell says, or what the server did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Allow,
    Deny,
    Own,
}

impl Cell {
    fn from_rule(rule: Rule) -> Cell {
        match rule {
            Rule::Allow => Cell::Allow,
            Rule::Deny => Cell::Deny,
            Rule::Own => Cell::Own,
        }
    }

    fn parse(s: &str) -> Cell {
        match s {
            "allow" => Cell::Allow,
            "deny" => Cell::Deny,
            "own" => Cell::Own,
            other => panic!("SECURITY.md: unknown cell {other:?} (allow, deny or own)"),
        }
    }
}

/// The rows of the table beside the protocol's operations.
const HTTP_LOGIN: &str = "POST /v1/staff/login";
const HTTP_LOGOUT: &str = "POST /v1/staff/logout";
const HTTP_ACCEPT: &str = "POST /v1/escalations/{id}/accept";
const HTTP_METRICS: &str = "GET /metrics";
const HTTP_HEALTHZ: &str = "GET /healthz";
const HTTP_ATTESTATION: &str = "GET /v1/attestation-key";
const HTTP_VAULT_OPEN: &str = "POST /v1/staff/vault/open";
const HTTP_VAULT_PUT: &str = "PUT /v1/staff/vault/items/{slot}";
const ADMIN_CLI: &str = "admin CLI";
const OTHER_ROWS: [&str; 9] = [
    HTTP_LOGIN,
    HTTP_LOGOUT,
    HTTP_VAULT_OPEN,
    HTTP_VAULT_PUT,
    HTTP_ACCEPT,
    HTTP_METRICS,
    HTTP_HEALTHZ,
    HTTP_ATTESTATION,
    ADMIN_CLI,
];

/// The table of SECURITY.md: row name → the cell of each role.
fn read_matrix() -> Vec<(String, BTreeMap<Role, Cell>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../SECURITY.md");
    let text = std::fs::read_to_string(path).expect("reading SECURITY.md");
    let start = text.find(START).expect("SECURITY.md has the matrix start marker") + START.len();
    let end = text.find(END).expect("SECURITY.md has the matrix end marker");
    let mut lines = text[start..end].lines().map(str::trim).filter(|l| !l.is_empty());
    let split = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = split(lines.next().expect("a header row"));
    assert_eq!(header.len(), 1 + Role::ALL.len(), "columns: {header:?}");
    for (role, name) in Role::ALL.iter().zip(&header[1..]) {
        assert_eq!(name, role.header(), "column order of the matrix");
    }
    assert!(lines.next().expect("the separator row").starts_with("|---"));
    let mut rows = Vec::new();
    for line in lines {
        let cells = split(line);
        assert_eq!(cells.len(), header.len(), "row {line:?}");
        // `op` or `METHOD /path`, in backticks; the admin row has words after.
        let name = cells[0].trim_start_matches('`');
        let name = name.split('`').next().unwrap_or(name).trim().to_string();
        let name = if name.starts_with("admin CLI") {
            ADMIN_CLI.to_string()
        } else {
            name
        };
        let row = Role::ALL
            .iter()
            .zip(&cells[1..])
            .map(|(role, c)| (*role, Cell::parse(c)))
            .collect();
        rows.push((name, row));
    }
    rows
}

// ------------------------------------------------------------- the world

struct Staff {
    c: Client,
    username: String,
    password: String,
    token: String,
}

/// One server, its people and a few objects that belong to somebody else.
struct World {
    server: ServerProcess,
    url: String,
    ana: Staff,
    /// Another counsellor: the owner of "somebody else's" chats.
    bora: Staff,
    sara: Staff,
    vesna: Staff,
    adam: Staff,
    /// The disabled account: its password, its old session token and the
    /// key it used (revoked with the account).
    dora_password: String,
    dora_token: String,
    dora_key: Identity,
    /// An anonymous client with key packages others may claim.
    donor: Client,
    /// Bora's chat (group, ticket) that stays open, and its open escalation.
    bora_chat: (Vec<u8>, u64),
    bora_escalation: u64,
    /// A group of an outsider, and a commit and a message for it that the
    /// outsider built but never sent.
    outsider_group: Vec<u8>,
    outsider_commit: Vec<u8>,
    outsider_message: Vec<u8>,
    /// Bora's circle (a member, a pending join request) and a long-lived
    /// invitation to it: somebody else's circle for everyone.
    bora_circle: CircleSetup,
    bora_code: String,
    bora_invitation: u64,
    /// Each role's circle (and, for the visitor, the client moderating it),
    /// shared by the circle operations that leave it usable.
    circles: BTreeMap<Role, (CircleSetup, Option<Client>)>,
    /// Connections kept open so their groups and tickets stay alive.
    keep: Vec<Client>,
    _outsider: Connection,
}

const CONFIG: &str = "[intake]\nrequests_per_source_per_minute = 100000\nsource_burst = 100000\n\
connections_per_source_per_minute = 100000\nconnection_burst = 100000\nglobal_requests_per_minute = 1000000\n\
pow_threshold_per_minute = 0\n";

/// The staff of the world, `(username, role)`, made side by side: the
/// accounts and logins are blocking calls (the admin CLI, HTTP) on threads
/// of their own, the connections and key packages concurrent.
async fn staff_all(server: &ServerProcess, people: [(&str, &str); 5]) -> [Staff; 5] {
    let credentials: Vec<(String, String)> = std::thread::scope(|s| {
        let made: Vec<_> = people
            .iter()
            .map(|&(username, role)| {
                s.spawn(move || {
                    let display = format!("{username} (display)");
                    let password = create_staff(server, username, &display, role, "mk,en", 20);
                    let token = staff_login(server, username, &password);
                    (password, token)
                })
            })
            .collect();
        made.into_iter().map(|t| t.join().expect("a staff account")).collect()
    });
    let url = server.url();
    let connect = |i: usize| {
        let (password, token) = credentials[i].clone();
        let (username, url) = (people[i].0.to_string(), url.clone());
        async move {
            let mut c = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
                .await
                .expect("staff connects");
            c.publish_key_packages(20).await.expect("staff key packages");
            Staff {
                c,
                username,
                password,
                token,
            }
        }
    };
    // One after another: five first uploads at once fill the staff's
    // validation queue, which answers `busy` by design.
    let a = connect(0).await;
    let b = connect(1).await;
    let c = connect(2).await;
    let d = connect(3).await;
    let e = connect(4).await;
    [a, b, c, d, e]
}

async fn visitor(url: &str) -> Client {
    Client::connect_ephemeral(url).await.expect("visitor connects")
}

/// The time now, for signed escalations.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

impl World {
    async fn build() -> World {
        let mut t = Instant::now();
        let mut lap = |what: &str| {
            eprintln!("  {what}: {:?}", t.elapsed());
            t = Instant::now();
        };
        let server = ServerProcess::start_with_config(CONFIG);
        lap("server");
        let url = server.url();
        let [mut ana, mut bora, mut sara, vesna, adam] = staff_all(
            &server,
            [
                ("ana", "counsellor"),
                ("bora", "counsellor"),
                ("sara", "supervisor"),
                ("vesna", "crisis_responder"),
                ("adam", "admin"),
            ],
        )
        .await;
        // On shift, but never offered chats: tickets wait until accepted by id.
        for s in [&mut ana, &mut bora, &mut sara] {
            s.c.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");
        }
        vesna.c.set_duty(DutyState::OnDuty).await.expect("on duty");
        lap("staff");

        // Dora logs in, is connected, and is disabled: her connection ends.
        let dora_password = create_staff(&server, "dora", "dora (display)", "counsellor", "mk,en", 5);
        let dora_token = staff_login(&server, "dora", &dora_password);
        let dora_key = Identity::generate();
        let mut dora = Client::connect_staff(&url, ClientState::in_memory(dora_key.clone()), &dora_token)
            .await
            .expect("dora connects");
        let out = server.admin(&["disable", "dora"], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "dora's open connection was not closed");
            match dora.poll(Duration::from_millis(200)).await {
                Err(_) => break,
                Ok(_) if dora.connection().is_none_or(Connection::is_closed) => break,
                Ok(_) => {}
            }
        }

        lap("dora");
        let mut donor = visitor(&url).await;
        donor.publish_key_packages(30).await.expect("donor key packages");

        // The outsider: a group of its own, a commit and a message built
        // for it and never sent.
        let identity = Identity::generate();
        let outsider = Connection::open(&url, WAIT).await.expect("outsider connects");
        outsider.authenticate(&identity).await.expect("outsider authenticates");
        let mut engine = MlsEngine::new(identity);
        let group = engine.create_group().expect("outsider group");
        outsider
            .request(Request::CreateGroup {
                group_info: group.group_info.clone().into(),
                ratchet_tree: group.ratchet_tree.clone().into(),
            })
            .await
            .expect("outsider creates its group");
        let outsider_message = engine.encrypt(&group.group_id, "not yours").expect("encrypt");
        let outsider_commit = engine
            .build_commit(&group.group_id, &CommitOp::Update)
            .expect("commit")
            .expect("an update commit")
            .commit;

        let mut world = World {
            server,
            url,
            ana,
            bora,
            sara,
            vesna,
            adam,
            dora_password,
            dora_token,
            dora_key,
            donor,
            bora_chat: (Vec::new(), 0),
            bora_escalation: 0,
            bora_circle: CircleSetup::default(),
            bora_code: String::new(),
            bora_invitation: 0,
            outsider_group: group.group_id,
            outsider_commit,
            outsider_message,
            circles: BTreeMap::new(),
            keep: Vec::new(),
            _outsider: outsider,
        };
        lap("donor, outsider");
        world.bora_chat = world.chat(Who::Bora).await;
        eprintln!("  chat: {:?}", t.elapsed());
        world.bora_escalation = world.escalation_on(Who::Bora, &world.bora_chat.0.clone()).await;
        let (circle, code, invitation) = world.bora_circle().await;
        world.bora_circle = world.populate(circle, Who::Bora).await;
        world.bora_code = code;
        world.bora_invitation = invitation;
        eprintln!("  chat, escalation, circle: {:?}", t.elapsed());
        world
    }

    /// A new circle of Bora's with a long-lived invitation: (setup, code,
    /// invitation id).
    async fn bora_circle(&mut self) -> (CircleSetup, String, u64) {
        let c = &mut self.bora.c;
        let circle = c
            .create_circle("Circle", "mk", "Peer support", false)
            .await
            .expect("circle");
        let inv = c
            .create_invitation(circle.circle_id, 3600, 1000)
            .await
            .expect("invitation");
        let setup = CircleSetup {
            circle_id: circle.circle_id,
            group: circle.group_id.0,
            ..CircleSetup::default()
        };
        (setup, inv.code.expect("code"), inv.invitation_id)
    }

    /// Give a circle that `moderator` moderates a member and a pending
    /// join request.
    async fn populate(&mut self, mut setup: CircleSetup, moderator: Who) -> CircleSetup {
        let code = self
            .staff(moderator)
            .c
            .create_invitation(setup.circle_id, 3600, 10)
            .await
            .expect("invitation")
            .code
            .expect("code");
        let mut member = visitor(&self.url).await;
        member.join_circle(&code, "Member").await.expect("join");
        let c = &mut self.staff(moderator).c;
        let requests = c.join_requests(setup.circle_id).await.expect("requests");
        c.drain_available().await.expect("drain");
        c.approve_joins(&setup.group, &requests).await.expect("approve");
        setup.member = member.client_id();
        let mut pending = visitor(&self.url).await;
        setup.pending = pending.join_circle(&code, "Pending").await.expect("join").1;
        self.keep.push(member);
        self.keep.push(pending);
        setup
    }

    /// A circle `actor` moderates (with a member and a pending request):
    /// counsellors and supervisors create one; anyone else joins one of
    /// Bora's and is made a moderator (a peer moderator).
    async fn circle_moderated_by(&mut self, staff: Option<Who>, actor: Option<&mut Client>) -> CircleSetup {
        if let Some(who @ (Who::Ana | Who::Sara)) = staff {
            let c = &mut self.staff(who).c;
            let circle = c
                .create_circle("Mine", "mk", "Peer support", false)
                .await
                .expect("circle");
            let setup = CircleSetup {
                circle_id: circle.circle_id,
                group: circle.group_id.0,
                ..CircleSetup::default()
            };
            return self.populate(setup, who).await;
        }
        let (setup, code, _) = self.bora_circle().await;
        let key = match (staff, actor) {
            (Some(w), _) => {
                let c = &mut self.staff(w).c;
                c.join_circle(&code, "Peer").await.expect("join");
                c.client_id()
            }
            (None, Some(v)) => {
                v.join_circle(&code, "Peer").await.expect("join");
                v.client_id()
            }
            (None, None) => panic!("an actor is needed"),
        };
        let b = &mut self.bora.c;
        let requests = b.join_requests(setup.circle_id).await.expect("requests");
        b.drain_available().await.expect("drain");
        b.approve_joins(&setup.group, &requests).await.expect("approve");
        b.set_moderator(setup.circle_id, &key, true).await.expect("promote");
        self.populate(setup, Who::Bora).await
    }

    fn staff(&mut self, who: Who) -> &mut Staff {
        match who {
            Who::Ana => &mut self.ana,
            Who::Bora => &mut self.bora,
            Who::Sara => &mut self.sara,
            Who::Vesna => &mut self.vesna,
            Who::Adam => &mut self.adam,
        }
    }

    /// A waiting ticket of a new visitor in `language` (kept connected).
    async fn waiting_ticket(&mut self, language: &str) -> u64 {
        let mut v = visitor(&self.url).await;
        let ticket = v.request_chat(language, "health", false).await.expect("request_chat");
        self.keep.push(v);
        ticket.ticket_id
    }

    /// A new chat of `who` with a new visitor: (group, ticket).
    async fn chat(&mut self, who: Who) -> (Vec<u8>, u64) {
        let (g, ticket, v) = self.chat_with_visitor(who).await;
        self.keep.push(v);
        (g, ticket)
    }

    async fn chat_with_visitor(&mut self, who: Who) -> (Vec<u8>, u64, Client) {
        let mut v = visitor(&self.url).await;
        let ticket = v
            .request_chat("mk", "health", false)
            .await
            .expect("request_chat")
            .ticket_id;
        let g = self
            .staff(who)
            .c
            .accept_ticket(ticket)
            .await
            .expect("accept_ticket")
            .group_id;
        v.wait_for_group(&g, WAIT).await.expect("the visitor joins");
        (g, ticket, v)
    }

    /// An open escalation of `who`'s chat `g`.
    async fn escalation_on(&mut self, who: Who, g: &[u8]) -> u64 {
        self.staff(who)
            .c
            .escalate(g, parasol_protocol::Severity::High, Category::Other)
            .await
            .expect("escalate")
            .escalation_id
    }

    /// A new open escalation of a new chat of bora's.
    async fn bora_fresh_escalation(&mut self) -> u64 {
        let (g, _) = self.chat(Who::Bora).await;
        self.escalation_on(Who::Bora, &g).await
    }

    /// A visitor's group standing in for a team message: sealed team
    /// messages exist only outside opening hours, and this world is open
    /// (`tests/tests/intake_off_hours.rs` takes real ones). The cell is
    /// about who may ask; a counsellor asking gets `unknown_group`.
    async fn team_message(&mut self) -> Vec<u8> {
        let mut v = visitor(&self.url).await;
        let g = v.create_group().await.expect("group");
        self.keep.push(v);
        g
    }
}

const CIRCLE_OPS: [&str; 14] = [
    "create_circle",
    "list_circles",
    "create_invitation",
    "list_invitations",
    "revoke_invitation",
    "preview_invitation",
    "join_circle",
    "join_requests",
    "circle_roster",
    "decline_join",
    "set_muted",
    "set_moderator",
    "leave_circle",
    "close_circle",
];

/// A circle for a cell; who moderates it is the caller's business.
#[derive(Debug, Clone, Default)]
struct CircleSetup {
    circle_id: u64,
    group: Vec<u8>,
    /// A member who is not a moderator.
    member: [u8; 32],
    /// A join request waiting for a decision.
    pending: u64,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Ana,
    Bora,
    Sara,
    Vesna,
    Adam,
}

fn subject(role: Role) -> Option<Who> {
    match role {
        Role::Counsellor => Some(Who::Ana),
        Role::Supervisor => Some(Who::Sara),
        Role::CrisisResponder => Some(Who::Vesna),
        Role::Admin => Some(Who::Adam),
        _ => None,
    }
}

// ------------------------------------------------------------ attempts

type Attempt = Result<(), ClientError>;

fn done<T>(r: Result<T, ClientError>) -> Attempt {
    r.map(|_| ())
}

fn server_code(e: &ClientError) -> ErrorCode {
    e.server_code()
        .unwrap_or_else(|| panic!("expected an answer from the server, got {e}"))
}

/// Refused for authorization.
fn refused(a: &Attempt) -> bool {
    match a {
        Ok(()) => false,
        Err(e) => matches!(
            server_code(e),
            ErrorCode::Forbidden
                | ErrorCode::NotAMember
                | ErrorCode::NotAuthenticated
                | ErrorCode::AuthenticationFailed
        ),
    }
}

/// Refused on somebody else's object (existence hidden counts).
fn not_yours(a: &Attempt) -> bool {
    refused(a)
        || matches!(a, Err(e) if matches!(server_code(e), ErrorCode::UnknownTicket | ErrorCode::UnknownEscalation | ErrorCode::UnknownGroup | ErrorCode::UnknownCircle))
}

fn observe(mine: &Attempt, theirs: Option<&Attempt>) -> Cell {
    if refused(mine) {
        return Cell::Deny;
    }
    match theirs {
        Some(t) if not_yours(t) => Cell::Own,
        _ => Cell::Allow,
    }
}

/// Some request for `op`, with arguments that name nothing in particular:
/// what an unauthenticated connection or a disabled account tries.
fn sample(op: &str) -> Request {
    sample_naming(op, 1, Bytes(vec![1; 16]), Bytes(vec![2; 32]))
}

/// An id no ticket, escalation, circle, invitation or join request has
/// (ticket ids are random below 2^53; the others count up from 1).
const ABSENT_ID: u64 = (1 << 52) + 12_345;

/// A request for `op` whose ids (numbers, group, client) name nothing
/// that exists: a denied role must still get `forbidden`, not
/// `unknown_ticket` and the like, or the difference would tell it which
/// ids exist.
fn absent(op: &str) -> Request {
    sample_naming(op, ABSENT_ID, Bytes(vec![0xa5; 32]), Bytes(vec![0x5a; 32]))
}

/// [`sample`] with `id` for every numeric id, `g` for every group and
/// `client` for every client id.
fn sample_naming(op: &str, id: u64, g: Bytes, client: Bytes) -> Request {
    let escalation = SignedEscalation {
        group_id: g.clone(),
        severity: parasol_protocol::Severity::High,
        category: Category::Other,
        issued_at: now_secs(),
        signature: Bytes(vec![0; 64]),
    };
    let req = match op {
        "authenticate" => Request::Authenticate {
            proof: parasol_protocol::AuthProof::Ed25519Challenge {
                public_key: Bytes(vec![0; 32]),
                signature: Bytes(vec![0; 64]),
            },
        },
        "publish_key_packages" => Request::PublishKeyPackages {
            key_packages: Vec::new(),
            replace: false,
        },
        "claim_key_package" => Request::ClaimKeyPackage {
            client_id: client.clone(),
        },
        "create_group" => Request::CreateGroup {
            group_info: Bytes(vec![0]),
            ratchet_tree: Bytes(vec![0]),
        },
        "send_commit" => Request::SendCommit {
            commit: Bytes(vec![0]),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        },
        "send_message" => Request::SendMessage {
            message: Bytes(vec![0]),
        },
        "subscribe" => Request::Subscribe { after: 0 },
        "fetch_backlog" => Request::FetchBacklog { after: 0, limit: 1 },
        "ack" => Request::Ack { up_to: 0 },
        "list_groups" => Request::ListGroups,
        "ping" => Request::Ping,
        "intake_info" => Request::IntakeInfo,
        "request_chat" => Request::RequestChat {
            language: "en".into(),
            topic: "health".into(),
            urgent: false,
            key_packages: Vec::new(),
            pow: None::<PowSolution>,
        },
        "cancel_ticket" => Request::CancelTicket { ticket_id: id },
        "resume_ticket" => Request::ResumeTicket {
            resume_secret: Bytes(vec![3; 16]),
            key_packages: Vec::new(),
        },
        "team_key_packages" => Request::TeamKeyPackages,
        "leave_team_message" => Request::LeaveTeamMessage {
            group_id: g,
            language: "mk".into(),
        },
        "set_shift" => Request::SetShift {
            state: ShiftState::ClockedIn,
            handover: false,
        },
        "queue_view" => Request::QueueView,
        "accept_ticket" => Request::AcceptTicket { ticket_id: id },
        "decline_offer" => Request::DeclineOffer { ticket_id: id },
        "attach_chat" => Request::AttachChat {
            ticket_id: id,
            group_id: g,
        },
        "transfer_chat" => Request::TransferChat { group_id: g, to: None },
        "close_chat" => Request::CloseChat {
            group_id: g,
            tag: "support".into(),
        },
        "block_visitor" => Request::BlockVisitor {
            ticket_id: id,
            duration_secs: 60,
            reason: "test".into(),
        },
        "board" => Request::Board,
        "team_messages" => Request::TeamMessages,
        "take_team_message" => Request::TakeTeamMessage { group_id: g },
        "rescue_chat" => Request::RescueChat { group_id: g, to: None },
        "visitor_leaving" => Request::VisitorLeaving { quick_exit: false },
        "escalate" => Request::Escalate { escalation },
        "set_duty" => Request::SetDuty {
            state: DutyState::OnDuty,
        },
        "escalation_queue" => Request::EscalationQueue,
        "accept_escalation" => Request::AcceptEscalation { escalation_id: id },
        "resolve_escalation" => Request::ResolveEscalation {
            escalation_id: id,
            outcome: EscalationOutcome::Resolved,
        },
        "sos" => Request::Sos {
            ticket_id: (id != 1).then_some(id),
        },
        "chat_feedback" => Request::ChatFeedback {
            answer: FeedbackAnswer::Helped,
        },
        "create_circle" => Request::CreateCircle {
            group_id: g,
            name: "Circle".into(),
            language: "mk".into(),
            topic: "Peer support".into(),
            auto_approve: false,
        },
        "list_circles" => Request::ListCircles,
        "create_invitation" => Request::CreateInvitation {
            circle_id: id,
            expires_in_secs: 60,
            max_uses: 1,
        },
        "list_invitations" => Request::ListInvitations { circle_id: id },
        "revoke_invitation" => Request::RevokeInvitation {
            circle_id: id,
            invitation_id: id,
        },
        "preview_invitation" => Request::PreviewInvitation {
            code: "ABCDEFGHJKMN".into(),
        },
        "join_circle" => Request::JoinCircle {
            code: "ABCDEFGHJKMN".into(),
            display_name: "Rosa".into(),
            key_package: Bytes(vec![0]),
        },
        "join_requests" => Request::JoinRequests { circle_id: id },
        "circle_roster" => Request::CircleRoster { circle_id: id },
        "decline_join" => Request::DeclineJoin {
            circle_id: id,
            request_id: id,
        },
        "set_muted" => Request::SetMuted {
            circle_id: id,
            client_id: client.clone(),
            muted: true,
        },
        "set_moderator" => Request::SetModerator {
            circle_id: id,
            client_id: client.clone(),
            moderator: true,
        },
        "leave_circle" => Request::LeaveCircle { circle_id: id },
        "close_circle" => Request::CloseCircle { circle_id: id },
        other => panic!("the test does not know the operation {other:?}"),
    };
    assert_eq!(req.op_name(), op);
    req
}

/// An unauthenticated connection tries `op`.
async fn unauthenticated(world: &World, op: &str) -> Cell {
    let conn = Connection::open(&world.url, WAIT).await.expect("connects");
    if op == "authenticate" {
        return observe(&done(conn.authenticate(&Identity::generate()).await), None);
    }
    observe(&done(conn.request(sample(op)).await), None)
}

/// The disabled account tries `op`: with its old session token, and with
/// its old key "anonymously" (without a session). It counts as allowed if
/// either way in lets it.
async fn disabled(world: &World, op: &str) -> Cell {
    let with_session = Connection::open(&world.url, WAIT).await.expect("connects");
    let session_auth = done(
        with_session
            .authenticate_staff(&Identity::generate(), &world.dora_token)
            .await,
    );
    let anonymous = Connection::open(&world.url, WAIT).await.expect("connects");
    let key_auth = done(anonymous.authenticate(&world.dora_key).await);
    let (conn, auth) = match (&session_auth, &key_auth) {
        (Ok(_), _) | (Err(_), Err(_)) => (with_session, session_auth),
        (Err(_), Ok(_)) => (anonymous, key_auth),
    };
    if op == "authenticate" || auth.is_err() {
        return observe(&auth, None);
    }
    observe(&done(conn.request(sample(op)).await), None)
}

/// A fresh anonymous visitor or the role's staff client sends `req`.
async fn send(world: &mut World, role: Role, req: Request) -> Attempt {
    match subject(role) {
        Some(who) => done(world.staff(who).c.request(req).await),
        None => {
            let v = visitor(&world.url).await;
            done(v.request(req).await)
        }
    }
}

/// `op` as the visitor or a staff role, with real arguments.
/// The circle operations, as `role`: on a circle the role moderates (or is
/// a member of), and on Bora's.
async fn perform_circle(world: &mut World, op: &str, role: Role) -> Cell {
    let staff = subject(role);
    let theirs = world.bora_circle.clone();
    let (bora_code, bora_invitation) = (world.bora_code.clone(), world.bora_invitation);
    let needs_circle = !matches!(
        op,
        "create_circle" | "list_circles" | "preview_invitation" | "join_circle"
    );
    // A circle with a member and a pending request takes several commits to
    // make: the operations that leave it as it was (or spend only what no
    // later one needs: `decline_join` the request) share one per role.
    let shared = matches!(
        op,
        "create_invitation"
            | "list_invitations"
            | "revoke_invitation"
            | "join_requests"
            | "circle_roster"
            | "decline_join"
            | "set_muted"
    );
    let cached = if shared { world.circles.remove(&role) } else { None };
    let (mine, mut own_visitor) = match cached {
        Some(cached) => cached,
        None => {
            let mut own_visitor = match staff {
                Some(_) => None,
                None => Some(visitor(&world.url).await),
            };
            let mine = if needs_circle {
                world.circle_moderated_by(staff, own_visitor.as_mut()).await
            } else {
                CircleSetup::default()
            };
            (mine, own_visitor)
        }
    };
    let outsider_group = world.outsider_group.clone();
    let c: &mut Client = match staff {
        Some(who) => &mut world.staff(who).c,
        None => own_visitor.as_mut().expect("the visitor"),
    };
    let (a, b) = match op {
        "create_circle" => {
            let t = done(
                c.request(Request::CreateCircle {
                    group_id: Bytes(outsider_group),
                    name: "Not mine".into(),
                    language: "mk".into(),
                    topic: "Peer support".into(),
                    auto_approve: false,
                })
                .await,
            );
            let m = done(c.create_circle("Mine", "mk", "Peer support", false).await.map(|_| ()));
            (m, Some(t))
        }
        "list_circles" => (done(c.list_circles().await.map(|_| ())), None),
        "preview_invitation" => (done(c.preview_invitation(&bora_code).await.map(|_| ())), None),
        "join_circle" => (done(c.join_circle(&bora_code, "Rosa").await.map(|_| ())), None),
        "create_invitation" | "list_invitations" | "join_requests" | "circle_roster" | "close_circle" => {
            let req = |s: &CircleSetup| match op {
                "circle_roster" => Request::CircleRoster { circle_id: s.circle_id },
                "create_invitation" => Request::CreateInvitation {
                    circle_id: s.circle_id,
                    expires_in_secs: 60,
                    max_uses: 1,
                },
                "list_invitations" => Request::ListInvitations { circle_id: s.circle_id },
                "join_requests" => Request::JoinRequests { circle_id: s.circle_id },
                _ => Request::CloseCircle { circle_id: s.circle_id },
            };
            let t = done(c.request(req(&theirs)).await);
            (done(c.request(req(&mine)).await), Some(t))
        }
        "revoke_invitation" => {
            let t = done(
                c.request(Request::RevokeInvitation {
                    circle_id: theirs.circle_id,
                    invitation_id: bora_invitation,
                })
                .await,
            );
            let inv = c.create_invitation(mine.circle_id, 60, 1).await.expect("my invitation");
            (
                done(c.revoke_invitation(mine.circle_id, inv.invitation_id).await),
                Some(t),
            )
        }
        "decline_join" => {
            let t = done(
                c.request(Request::DeclineJoin {
                    circle_id: theirs.circle_id,
                    request_id: theirs.pending,
                })
                .await,
            );
            (done(c.decline_join(mine.circle_id, mine.pending).await), Some(t))
        }
        "set_muted" | "set_moderator" => {
            let req = |s: &CircleSetup| match op {
                "set_muted" => Request::SetMuted {
                    circle_id: s.circle_id,
                    client_id: Bytes(s.member.to_vec()),
                    muted: true,
                },
                _ => Request::SetModerator {
                    circle_id: s.circle_id,
                    client_id: Bytes(s.member.to_vec()),
                    moderator: true,
                },
            };
            let t = done(c.request(req(&theirs)).await);
            (done(c.request(req(&mine)).await), Some(t))
        }
        "leave_circle" => {
            let t = done(
                c.request(Request::LeaveCircle {
                    circle_id: theirs.circle_id,
                })
                .await,
            );
            let m = done(
                c.request(Request::LeaveCircle {
                    circle_id: mine.circle_id,
                })
                .await,
            );
            (m, Some(t))
        }
        other => panic!("not a circle operation: {other}"),
    };
    if shared {
        world.circles.insert(role, (mine, own_visitor));
    } else if let Some(v) = own_visitor {
        world.keep.push(v);
    }
    observe(&a, b.as_ref())
}

async fn perform(world: &mut World, op: &str, role: Role) -> Cell {
    let staff = subject(role);
    if CIRCLE_OPS.contains(&op) {
        return perform_circle(world, op, role).await;
    }
    let is_chat_staff = matches!(role, Role::Counsellor | Role::Supervisor);
    let other_ticket = world.bora_chat.1;
    let other_group = world.bora_chat.0.clone();
    match op {
        "authenticate" => {
            let conn = Connection::open(&world.url, WAIT).await.expect("connects");
            let attempt = match staff {
                None => done(conn.authenticate(&Identity::generate()).await),
                Some(who) => {
                    let (username, password) = {
                        let s = world.staff(who);
                        (s.username.clone(), s.password.clone())
                    };
                    let token = staff_login(&world.server, &username, &password);
                    done(conn.authenticate_staff(&Identity::generate(), &token).await)
                }
            };
            observe(&attempt, None)
        }
        "publish_key_packages" => {
            let a = match staff {
                Some(who) => done(world.staff(who).c.publish_key_packages(1).await),
                None => done(visitor(&world.url).await.publish_key_packages(1).await),
            };
            observe(&a, None)
        }
        "claim_key_package" => {
            let donor = world.donor.client_id();
            let a = send(
                world,
                role,
                Request::ClaimKeyPackage {
                    client_id: Bytes(donor.to_vec()),
                },
            )
            .await;
            observe(&a, None)
        }
        "create_group" => {
            let a = match staff {
                Some(who) => done(world.staff(who).c.create_group().await),
                None => done(visitor(&world.url).await.create_group().await),
            };
            observe(&a, None)
        }
        "send_commit" | "send_message" => {
            let theirs = if op == "send_commit" {
                Request::SendCommit {
                    commit: Bytes(world.outsider_commit.clone()),
                    welcome: None,
                    group_info: None,
                    ratchet_tree: None,
                }
            } else {
                Request::SendMessage {
                    message: Bytes(world.outsider_message.clone()),
                }
            };
            let mut v;
            let c = match staff {
                Some(who) => &mut world.staff(who).c,
                None => {
                    v = visitor(&world.url).await;
                    &mut v
                }
            };
            let g = c.create_group().await.expect("own group");
            let mine = if op == "send_commit" {
                done(c.self_update(&g).await)
            } else {
                done(c.send_text(&g, "mine").await)
            };
            let theirs = done(c.request(theirs).await);
            observe(&mine, Some(&theirs))
        }
        "subscribe" | "fetch_backlog" | "ack" => {
            let (a, cursor);
            let mut v;
            let c = match staff {
                Some(who) => &mut world.staff(who).c,
                None => {
                    v = visitor(&world.url).await;
                    &mut v
                }
            };
            cursor = c.cursor();
            let req = match op {
                "subscribe" => Request::Subscribe { after: cursor },
                "fetch_backlog" => Request::FetchBacklog {
                    after: cursor,
                    limit: 1,
                },
                _ => Request::Ack { up_to: cursor },
            };
            a = done(c.request(req).await);
            observe(&a, None)
        }
        "list_groups" | "ping" | "intake_info" | "queue_view" | "board" | "team_messages" | "escalation_queue"
        | "team_key_packages" => {
            let a = send(world, role, sample(op)).await;
            observe(&a, None)
        }
        "set_shift" => {
            // Back to the state everyone is in: on shift, not taking chats.
            let a = send(world, role, sample(op)).await;
            observe(&a, None)
        }
        "set_duty" => {
            let a = send(
                world,
                role,
                Request::SetDuty {
                    state: DutyState::OnDuty,
                },
            )
            .await;
            observe(&a, None)
        }
        "request_chat" => {
            let a = match staff {
                Some(who) => done(world.staff(who).c.request_chat("sq", "health", false).await),
                None => {
                    let mut v = visitor(&world.url).await;
                    let a = done(v.request_chat("sq", "health", false).await);
                    world.keep.push(v);
                    a
                }
            };
            observe(&a, None)
        }
        "cancel_ticket" | "resume_ticket" | "sos" => {
            let other = world.waiting_ticket("sq").await;
            match staff {
                Some(_) => {
                    let req = match op {
                        "cancel_ticket" => Request::CancelTicket { ticket_id: other },
                        "resume_ticket" => sample(op),
                        _ => Request::Sos { ticket_id: Some(other) },
                    };
                    observe(&send(world, role, req).await, None)
                }
                None => {
                    let mut v = visitor(&world.url).await;
                    let ticket = v.request_chat("sq", "health", false).await.expect("request_chat");
                    let mine_id = ticket.ticket_id;
                    let secret = ticket.resume_secret.clone().expect("secret");
                    let (theirs, mine) = match op {
                        "cancel_ticket" => (
                            done(v.request(Request::CancelTicket { ticket_id: other }).await),
                            done(v.request(Request::CancelTicket { ticket_id: mine_id }).await),
                        ),
                        "resume_ticket" => (
                            done(v.request(sample(op)).await),
                            done(v.resume_ticket(&secret.0).await),
                        ),
                        _ => (
                            done(v.request(Request::Sos { ticket_id: Some(other) }).await),
                            done(
                                v.request(Request::Sos {
                                    ticket_id: Some(mine_id),
                                })
                                .await,
                            ),
                        ),
                    };
                    world.keep.push(v);
                    observe(&mine, Some(&theirs))
                }
            }
        }
        "leave_team_message" => {
            let theirs = Request::LeaveTeamMessage {
                group_id: Bytes(world.outsider_group.clone()),
                language: "mk".into(),
            };
            match staff {
                Some(_) => observe(&send(world, role, theirs).await, None),
                None => {
                    let mut v = visitor(&world.url).await;
                    let g = v.create_group().await.expect("group");
                    let theirs = done(v.request(theirs).await);
                    let mine = done(
                        v.request(Request::LeaveTeamMessage {
                            group_id: Bytes(g),
                            language: "mk".into(),
                        })
                        .await,
                    );
                    world.keep.push(v);
                    observe(&mine, Some(&theirs))
                }
            }
        }
        "accept_ticket" => {
            let ticket = world.waiting_ticket("mk").await;
            let a = match staff {
                Some(who) if is_chat_staff => done(world.staff(who).c.accept_ticket(ticket).await),
                _ => send(world, role, Request::AcceptTicket { ticket_id: ticket }).await,
            };
            observe(&a, None)
        }
        "decline_offer" => {
            let waiting = world.waiting_ticket("mk").await;
            match staff {
                Some(who) if is_chat_staff => {
                    // Somebody else's: a ticket never offered to me.
                    let theirs = send(world, role, Request::DeclineOffer { ticket_id: waiting }).await;
                    // Mine: available for a moment, the first offer I get.
                    let c = &mut world.staff(who).c;
                    c.set_shift(ShiftState::Available, false).await.expect("available");
                    let offered = wait_notice(c, "an offer", |n| match n {
                        parasol_protocol::ServerMessage::Offer { ticket, .. } => Some(ticket.ticket_id),
                        _ => None,
                    })
                    .await;
                    let mine = done(c.request(Request::DeclineOffer { ticket_id: offered }).await);
                    c.set_shift(ShiftState::ClockedIn, false).await.expect("clocked in");
                    observe(&mine, Some(&theirs))
                }
                _ => observe(
                    &send(world, role, Request::DeclineOffer { ticket_id: waiting }).await,
                    None,
                ),
            }
        }
        "attach_chat" => {
            let mine_ticket = world.waiting_ticket("mk").await;
            let their_ticket = world.waiting_ticket("mk").await;
            match staff {
                Some(who) if is_chat_staff => {
                    let c = &mut world.staff(who).c;
                    c.request(Request::AcceptTicket { ticket_id: mine_ticket })
                        .await
                        .expect("accept_ticket");
                    let g1 = c.create_group().await.expect("group");
                    let g2 = c.create_group().await.expect("group");
                    let theirs = done(
                        c.request(Request::AttachChat {
                            ticket_id: their_ticket,
                            group_id: Bytes(g2),
                        })
                        .await,
                    );
                    let mine = done(
                        c.request(Request::AttachChat {
                            ticket_id: mine_ticket,
                            group_id: Bytes(g1),
                        })
                        .await,
                    );
                    observe(&mine, Some(&theirs))
                }
                Some(who) => {
                    let c = &mut world.staff(who).c;
                    let g = c.create_group().await.expect("group");
                    let a = done(
                        c.request(Request::AttachChat {
                            ticket_id: their_ticket,
                            group_id: Bytes(g),
                        })
                        .await,
                    );
                    observe(&a, None)
                }
                None => observe(&send(world, role, sample(op)).await, None),
            }
        }
        "transfer_chat" | "close_chat" | "block_visitor" | "escalate" => {
            let act = |g: &[u8], ticket: u64| -> Request {
                match op {
                    // To nobody who exists (the largest id the wire allows):
                    // no side effect once permitted.
                    "transfer_chat" => Request::TransferChat {
                        group_id: Bytes(g.to_vec()),
                        to: Some(parasol_protocol::strict::MAX_INTEGER),
                    },
                    "close_chat" => Request::CloseChat {
                        group_id: Bytes(g.to_vec()),
                        tag: "support".into(),
                    },
                    "block_visitor" => Request::BlockVisitor {
                        ticket_id: ticket,
                        duration_secs: 60,
                        reason: "matrix test".into(),
                    },
                    _ => Request::Escalate {
                        escalation: SignedEscalation {
                            group_id: Bytes(g.to_vec()),
                            severity: parasol_protocol::Severity::High,
                            category: Category::Other,
                            issued_at: now_secs(),
                            signature: Bytes(vec![0; 64]),
                        },
                    },
                }
            };
            let consumes = matches!(op, "close_chat" | "block_visitor");
            match role {
                Role::Counsellor => {
                    let (g, ticket) = world.chat(Who::Ana).await;
                    let theirs = escalate_or_send(world, Who::Ana, act(&other_group, other_ticket)).await;
                    let mine = escalate_or_send(world, Who::Ana, act(&g, ticket)).await;
                    observe(&mine, Some(&theirs))
                }
                Role::Supervisor => {
                    // Somebody else's chat; a fresh one when the act ends it.
                    let (g, ticket) = if consumes {
                        world.chat(Who::Bora).await
                    } else {
                        (other_group.clone(), other_ticket)
                    };
                    let a = escalate_or_send(world, Who::Sara, act(&g, ticket)).await;
                    observe(&a, None)
                }
                _ => match staff {
                    Some(who) => observe(
                        &escalate_or_send(world, who, act(&other_group, other_ticket)).await,
                        None,
                    ),
                    None => observe(&send(world, role, act(&other_group, other_ticket)).await, None),
                },
            }
        }
        "rescue_chat" => {
            // Bora's chat while Bora is here: a supervisor is permitted and
            // told it is not stranded (`invalid_state`); others are refused.
            let a = send(
                world,
                role,
                Request::RescueChat {
                    group_id: Bytes(other_group.clone()),
                    to: None,
                },
            )
            .await;
            observe(&a, None)
        }
        "visitor_leaving" => match staff {
            Some(_) => observe(&send(world, role, sample(op)).await, None),
            None => {
                // Only ever about the caller's own ticket.
                let mut v = visitor(&world.url).await;
                v.request_chat("sq", "health", false).await.expect("request_chat");
                let a = done(v.request(Request::VisitorLeaving { quick_exit: false }).await);
                world.keep.push(v);
                observe(&a, None)
            }
        },
        "take_team_message" => {
            let g = world.team_message().await;
            let a = send(world, role, Request::TakeTeamMessage { group_id: Bytes(g) }).await;
            observe(&a, None)
        }
        "accept_escalation" => {
            let id = world.bora_fresh_escalation().await;
            let a = send(world, role, Request::AcceptEscalation { escalation_id: id }).await;
            observe(&a, None)
        }
        "resolve_escalation" => {
            let resolve = |id| Request::ResolveEscalation {
                escalation_id: id,
                outcome: EscalationOutcome::Resolved,
            };
            let theirs = world.bora_escalation;
            match role {
                Role::Counsellor => {
                    let (g, _) = world.chat(Who::Ana).await;
                    let mine = world.escalation_on(Who::Ana, &g).await;
                    let t = send(world, role, resolve(theirs)).await;
                    let m = send(world, role, resolve(mine)).await;
                    observe(&m, Some(&t))
                }
                Role::CrisisResponder => {
                    let mine = world.bora_fresh_escalation().await;
                    world.vesna.c.accept_escalation(mine).await.expect("accept_escalation");
                    let t = send(world, role, resolve(theirs)).await;
                    let m = send(world, role, resolve(mine)).await;
                    observe(&m, Some(&t))
                }
                Role::Supervisor => {
                    let id = world.bora_fresh_escalation().await;
                    observe(&send(world, role, resolve(id)).await, None)
                }
                _ => observe(&send(world, role, resolve(theirs)).await, None),
            }
        }
        "chat_feedback" => match staff {
            Some(_) => observe(&send(world, role, sample(op)).await, None),
            None => {
                // A visitor whose chat the counsellor closed.
                let (g, _, v) = world.chat_with_visitor(Who::Ana).await;
                world.ana.c.close_chat(&g, "support").await.expect("close_chat");
                let a = done(
                    v.request(Request::ChatFeedback {
                        answer: FeedbackAnswer::Helped,
                    })
                    .await,
                );
                observe(&a, None)
            }
        },
        other => panic!("the test does not know the operation {other:?}"),
    }
}

/// Send `req` as `who`; an escalation is signed with their session key
/// first (the server checks the signature before the chat).
async fn escalate_or_send(world: &mut World, who: Who, req: Request) -> Attempt {
    let c = &world.staff(who).c;
    match req {
        Request::Escalate { escalation } => done(
            c.escalate(&escalation.group_id.0, escalation.severity, escalation.category)
                .await,
        ),
        req => done(c.request(req).await),
    }
}

// ------------------------------------------------------------------ HTTP

fn http_cell(status: u16) -> Cell {
    match status {
        401 | 403 => Cell::Deny,
        _ => Cell::Allow,
    }
}

async fn http(world: &mut World, row: &str, role: Role) -> Cell {
    let addr = world.server.addr();
    // The credential each role presents.
    let (login, bearer): (Option<(String, String)>, Option<String>) = match (role, subject(role)) {
        (_, Some(who)) => {
            let s = world.staff(who);
            (Some((s.username.clone(), s.password.clone())), Some(s.token.clone()))
        }
        (Role::Disabled, _) => (
            Some(("dora".to_string(), world.dora_password.clone())),
            Some(world.dora_token.clone()),
        ),
        _ => (None, None),
    };
    let auth = bearer.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    match row {
        HTTP_LOGIN => {
            let (username, password) = login.unwrap_or(("nobody".into(), "not a password".into()));
            let body = serde_json::json!({"username": username, "password": password}).to_string();
            let (status, _) = http_request(
                addr,
                "POST",
                row.split(' ').nth(1).expect("path"),
                &[("Content-Type", "application/json")],
                &body,
            );
            http_cell(status)
        }
        HTTP_LOGOUT => {
            // A session of its own, so the role's main session lives on.
            let token = match (role, subject(role)) {
                (_, Some(who)) => {
                    let (u, p) = {
                        let s = world.staff(who);
                        (s.username.clone(), s.password.clone())
                    };
                    Some(staff_login(&world.server, &u, &p))
                }
                _ => bearer,
            };
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            http_cell(http_request(addr, "POST", "/v1/staff/logout", &headers, "").0)
        }
        HTTP_ACCEPT => {
            let id = world.bora_fresh_escalation().await;
            let path = format!("/v1/escalations/{id}/accept");
            http_cell(http_request(addr, "POST", &path, &headers, "").0)
        }
        // Not served on the main listener at all (404), whoever asks: the
        // metrics have a loopback listener of their own (note 10).
        HTTP_METRICS => match http_request(addr, "GET", "/metrics", &headers, "").0 {
            404 => Cell::Deny,
            status => http_cell(status),
        },
        HTTP_VAULT_OPEN => http_cell(http_request(addr, "POST", "/v1/staff/vault/open", &headers, "").0),
        // After its own `open`, so a refusal is about the caller, not the lease.
        HTTP_VAULT_PUT => {
            http_request(addr, "POST", "/v1/staff/vault/open", &headers, "");
            let body = r#"{"sealed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
            let mut put_headers = headers.clone();
            put_headers.push(("Content-Type", "application/json"));
            let (status, answer) = http_request(addr, "PUT", "/v1/staff/vault/items/matrix", &put_headers, body);
            assert!(
                matches!(status, 200 | 401 | 403),
                "{row} as {role:?}: {status} {answer}"
            );
            http_cell(status)
        }
        HTTP_HEALTHZ | HTTP_ATTESTATION => {
            let path = row.split(' ').nth(1).expect("path");
            http_cell(http_request(addr, "GET", path, &headers, "").0)
        }
        _ => unreachable!("not an HTTP row: {row}"),
    }
}

/// The admin CLI: only through `admin.sock`, which only the server's
/// operating-system user may open. No role of Parasol reaches it.
fn admin_cli(world: &World) -> Cell {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let socket = world.server.data_dir().join("admin.sock");
    let meta = std::fs::metadata(&socket).expect("the admin socket exists while the server runs");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "admin.sock is the server user's only"
    );
    assert_eq!(
        meta.uid(),
        parasol_tests::current_uid(),
        "admin.sock belongs to the server's user"
    );
    // No HTTP route and no protocol operation is an admin command.
    assert!(OPERATIONS
        .iter()
        .all(|op| !op.contains("staff") && !op.contains("account")));
    Cell::Deny
}

// ------------------------------------------------------------------ test

/// One test drives every operation as every role; its futures are too
/// deep for a test thread's default stack in debug builds, so it runs on a
/// thread of its own with room to spare.
#[test]
fn every_cell_of_the_authorization_matrix_in_security_md_holds() {
    let body = std::thread::Builder::new()
        .name("authorization-matrix".into())
        .stack_size(64 * 1024 * 1024)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(Box::pin(every_cell_holds()))
        })
        .expect("test thread");
    if let Err(panic) = body.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn every_cell_holds() {
    let started = Instant::now();
    let mut matrix = read_matrix();

    // The operations and their rules are the server's; SECURITY.md's rows
    // for them must say the same, and its other rows must be known here.
    let rules: BTreeMap<&str, server_ops::Access> = server_ops::rules().collect();
    let code_ops: Vec<&str> = server_ops::rules().map(|(name, _)| name).collect();
    assert_eq!(code_ops, OPERATIONS, "the server's operations are the protocol's");
    let names: Vec<&str> = matrix.iter().map(|(n, _)| n.as_str()).collect();
    for op in &code_ops {
        assert!(names.contains(op), "SECURITY.md's matrix lacks the operation `{op}`");
        sample(op); // the test knows every operation
    }
    for name in &names {
        assert!(
            rules.contains_key(name) || OTHER_ROWS.contains(name),
            "SECURITY.md's matrix names {name:?}, which the test does not know"
        );
    }
    let mut seen = names.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), names.len(), "a row appears twice");
    for (row, cells) in &mut matrix {
        let Some(access) = rules.get(row.as_str()) else {
            continue;
        };
        for (role, cell) in cells.iter_mut() {
            if let Some(code_role) = role.in_code() {
                let in_code = Cell::from_rule(access.of(code_role));
                assert_eq!(
                    *cell,
                    in_code,
                    "{row} as {}: SECURITY.md and ops/{row}.rs disagree",
                    role.header()
                );
                *cell = in_code;
            }
        }
    }

    let mut world = World::build().await;
    eprintln!("set up in {:?}", started.elapsed());
    let mut wrong = Vec::new();

    // Every denied cell of a role that reaches dispatch, with ids that do
    // not exist: `forbidden` and nothing else (SECURITY.md: "whatever the
    // arguments"), or the answer would tell the caller which ids exist.
    let denied_started = Instant::now();
    let mut denied = 0;
    let lone_visitor = visitor(&world.url).await;
    for (op, access) in &rules {
        for role in Role::ALL {
            let Some(code_role) = role.in_code() else { continue };
            if access.of(code_role) != Rule::Deny {
                continue;
            }
            let attempt = match subject(role) {
                Some(who) => done(world.staff(who).c.request(absent(op)).await),
                None => done(lone_visitor.request(absent(op)).await),
            };
            denied += 1;
            match &attempt {
                Err(e) if e.server_code() == Some(ErrorCode::Forbidden) => {}
                other => wrong.push(format!(
                    "{op} as {} with ids that do not exist: expected `forbidden`, got {other:?}",
                    role.header()
                )),
            }
        }
    }
    world.keep.push(lone_visitor);
    eprintln!(
        "{denied} denied cells with ids that do not exist, {} not `forbidden`: {:?}",
        wrong.len(),
        denied_started.elapsed()
    );
    // 85 when this was written; fewer than half would mean the loop skips.
    assert!(denied > 40, "only {denied} denied cells were tried");

    // `authenticate` last: a staff member's second connection takes over
    // their pushes.
    let mut order: Vec<&(String, BTreeMap<Role, Cell>)> = matrix.iter().collect();
    order.sort_by_key(|(n, _)| n == "authenticate");
    for (row, cells) in order {
        let row_started = Instant::now();
        for (role, expected) in cells {
            let observed = if rules.contains_key(row.as_str()) {
                match role {
                    Role::Unauthenticated => unauthenticated(&world, row).await,
                    Role::Disabled => disabled(&world, row).await,
                    // Boxed: the match over every operation makes a future
                    // too large for a test thread's stack in debug builds.
                    _ => Box::pin(perform(&mut world, row, *role)).await,
                }
            } else if row == ADMIN_CLI {
                admin_cli(&world)
            } else {
                Box::pin(http(&mut world, row, *role)).await
            };
            if observed != *expected {
                wrong.push(format!(
                    "{row} as {}: SECURITY.md says {expected:?}, the server does {observed:?}",
                    role.header()
                ));
            }
        }
        eprintln!("{row}: {:?}", row_started.elapsed());
    }
    let cells = matrix.len() * Role::ALL.len();
    eprintln!(
        "{} rows × {} roles = {cells} cells in {:?}",
        matrix.len(),
        Role::ALL.len(),
        started.elapsed()
    );
    assert!(
        wrong.is_empty(),
        "{} cells disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
