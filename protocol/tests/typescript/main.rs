//! One protocol source: the TypeScript types and codec tables of the web
//! client (web-client/src/protocol/generated/) are generated from the wire
//! description in schema.rs, which is checked here against the
//! serde encoding of the Rust types.
//!
//! The same description writes the wire shape of every frame into
//! protocol/PROTOCOL.md (between `<!-- wire: … -->` markers, `wire.rs`), and
//! the document is checked to name exactly the operations, frames, error
//! codes and close codes of protocol/src (`document.rs`).
//!
//! `PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript`
//! writes the files; without the variable the test fails when the checked-in
//! files differ from what would be generated (the CI diff check).

mod docs;
mod document;
mod emit;
mod model;
mod schema;
mod verify;
mod wire;

use std::path::PathBuf;

fn generated_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web-client/src/protocol/generated")
}

#[test]
fn the_description_matches_the_serde_encoding() {
    let problems = verify::check(&schema::protocol());
    assert!(
        problems.is_empty(),
        "the description has drifted from protocol/src:\n{}",
        problems.join("\n")
    );
}

#[test]
fn generated_typescript_is_up_to_date() {
    let defs = schema::protocol();
    let docs = docs::read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"));
    let files = [
        ("types.ts", emit::types(&defs, &docs)),
        ("schema.ts", emit::schema(&defs)),
        ("constants.ts", emit::constants(&docs)),
    ];
    let dir = generated_dir();
    if std::env::var_os("PARASOL_WRITE_TS").is_some() {
        std::fs::create_dir_all(&dir).expect("create the generated folder");
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).expect("write a generated file");
        }
        return;
    }
    let stale: Vec<&str> = files
        .iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()))
        .map(|(name, _)| *name)
        .collect();
    assert!(
        stale.is_empty(),
        "web-client/src/protocol/generated/{stale:?} differ from protocol/src; regenerate with \
         `PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript` and commit them"
    );
}

fn protocol_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("PROTOCOL.md")
}

#[test]
fn protocol_md_shows_the_wire_shape_of_every_frame() {
    let defs = schema::protocol();
    let docs = docs::read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"));
    let blocks = wire::blocks(&defs, &docs);
    let path = protocol_md();
    let document = std::fs::read_to_string(&path).expect("PROTOCOL.md");
    let rewritten = wire::rewrite(&document, &blocks).unwrap_or_else(|problems| panic!("{}", problems.join("\n")));
    if std::env::var_os("PARASOL_WRITE_TS").is_some() {
        std::fs::write(&path, rewritten).expect("write PROTOCOL.md");
        return;
    }
    assert!(
        rewritten == document,
        "PROTOCOL.md's wire shapes differ from protocol/src; regenerate with \
         `PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript` and commit it"
    );
}

#[test]
fn protocol_md_names_every_operation_error_and_close_code_of_the_code() {
    use std::collections::BTreeSet;
    let document = std::fs::read_to_string(protocol_md()).expect("PROTOCOL.md");
    let mut problems = Vec::new();

    let operations: BTreeSet<String> = parasol_protocol::OPERATIONS.iter().map(|s| s.to_string()).collect();
    let listed: Vec<String> = document::first_cells(document::section(&document, "Operations"))
        .iter()
        .filter_map(|c| document::code_word(c))
        .collect();
    problems.extend(document::compare("operations", &operations, &listed));

    let codes: BTreeSet<String> = verify::variant_names::<parasol_protocol::ErrorCode>("\"__no_such_code__\"")
        .into_iter()
        .collect();
    assert!(codes.len() > 30, "serde names the error codes: {codes:?}");
    let listed: Vec<String> = document::first_cells(document::section(&document, "Errors"))
        .iter()
        .filter_map(|c| document::code_word(c))
        .collect();
    problems.extend(document::compare("error codes", &codes, &listed));

    let source = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/close.rs"))
        .expect("protocol/src/close.rs");
    let closes = document::close_codes_in_code(&source);
    assert!(
        closes.contains(&parasol_protocol::close::REPLACED),
        "close codes read: {closes:?}"
    );
    let listed: Vec<u16> = document::first_cells(document::section(&document, "WebSocket close codes"))
        .iter()
        .map(|c| c.parse().unwrap_or_else(|_| panic!("close code {c:?} is a number")))
        .collect();
    problems.extend(document::compare("close codes", &closes, &listed));

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
