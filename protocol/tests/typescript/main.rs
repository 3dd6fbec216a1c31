//! One protocol source: the TypeScript types and codec tables of the web
//! client (web-client/src/protocol/generated/) are generated from the wire
//! description in schema.rs, which is checked here against the
//! serde encoding of the Rust types.
//!
//! `PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript`
//! writes the files; without the variable the test fails when the checked-in
//! files differ from what would be generated (the CI diff check).

mod docs;
mod emit;
mod model;
mod schema;
mod verify;

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
