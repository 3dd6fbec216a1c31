//! The access rules in code against SECURITY.md's authorization matrix.
//! (tests/tests/authorization_matrix.rs performs every cell against a
//! running server; this one only reads, so it runs in milliseconds.)

use std::collections::BTreeMap;

use parasol_protocol::OPERATIONS;

use super::{rules, Role, Rule, OPS};

const START: &str = "<!-- authz-matrix:start -->";
const END: &str = "<!-- authz-matrix:end -->";
const UNAUTHENTICATED: &str = "unauthenticated";
const DISABLED: &str = "disabled account";

/// The matrix: row name → column heading → cell.
fn matrix() -> BTreeMap<String, BTreeMap<String, Rule>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../SECURITY.md");
    let text = std::fs::read_to_string(path).expect("reading SECURITY.md");
    let start = text.find(START).expect("the matrix's start marker") + START.len();
    let end = text.find(END).expect("the matrix's end marker");
    let split = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = text[start..end].lines().map(str::trim).filter(|l| !l.is_empty());
    let header = split(lines.next().expect("a header row"));
    assert!(lines.next().expect("the separator row").starts_with("|---"));
    let mut rows = BTreeMap::new();
    for line in lines {
        let cells = split(line);
        assert_eq!(cells.len(), header.len(), "row {line:?}");
        let name = cells[0].trim_start_matches('`');
        let name = name.split('`').next().unwrap_or(name).trim().to_string();
        let row = header[1..]
            .iter()
            .zip(&cells[1..])
            .map(|(h, c)| {
                let rule = match c.as_str() {
                    "allow" => Rule::Allow,
                    "deny" => Rule::Deny,
                    "own" => Rule::Own,
                    other => panic!("SECURITY.md: unknown cell {other:?} in {name}"),
                };
                (h.clone(), rule)
            })
            .collect();
        assert!(rows.insert(name.clone(), row).is_none(), "the row {name} appears twice");
    }
    rows
}

#[test]
fn every_operation_has_one_rule_in_the_protocols_order() {
    let names: Vec<&str> = OPS.iter().map(|op| op.name).collect();
    assert_eq!(names, OPERATIONS, "ops::OPS and parasol_protocol::OPERATIONS");
}

#[test]
fn the_rules_in_code_are_the_matrix_in_security_md() {
    let matrix = matrix();
    let mut wrong = Vec::new();
    for (name, access) in rules() {
        let row = matrix
            .get(name)
            .unwrap_or_else(|| panic!("SECURITY.md's matrix has no row for the operation `{name}`"));
        for role in Role::ALL {
            let documented = row
                .get(role.matrix_heading())
                .unwrap_or_else(|| panic!("the matrix has no column {:?}", role.matrix_heading()));
            if *documented != access.of(role) {
                wrong.push(format!(
                    "{name} as {}: SECURITY.md says {documented:?}, ops/{name}.rs says {:?}",
                    role.matrix_heading(),
                    access.of(role)
                ));
            }
        }
        // Those never reach dispatch: an unauthenticated connection may only
        // authenticate, and a disabled account cannot (net/auth.rs).
        let unauthenticated = if name == "authenticate" {
            Rule::Allow
        } else {
            Rule::Deny
        };
        if row.get(UNAUTHENTICATED) != Some(&unauthenticated) {
            wrong.push(format!("{name} as {UNAUTHENTICATED}: must be {unauthenticated:?}"));
        }
        if row.get(DISABLED) != Some(&Rule::Deny) {
            wrong.push(format!("{name} as {DISABLED}: must be Deny"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
