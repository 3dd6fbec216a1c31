//! PROTOCOL.md against protocol/src: the operations table, the error
//! codes and the close codes name exactly what the code has. (Frames and
//! types are held to the code by their wire markers, `wire.rs`.)

use std::collections::BTreeSet;

/// The text of the section headed `## {heading}`, up to the next `## `.
pub fn section<'a>(document: &'a str, heading: &str) -> &'a str {
    let start = document
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("PROTOCOL.md has a section `## {heading}`"));
    let body = &document[start + heading.len() + 5..];
    let end = body.find("\n## ").unwrap_or(body.len());
    &body[..end]
}

/// The first cell of each row of the first table in `text`, without its
/// header and separator rows.
pub fn first_cells(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').next().unwrap_or("").trim().to_owned())
        .collect()
}

/// The first `backticked` word of a cell (`` `sos` (visitors) `` → `sos`);
/// none for a bold group heading.
pub fn code_word(cell: &str) -> Option<String> {
    let rest = cell.strip_prefix('`')?;
    Some(rest.split('`').next()?.to_owned())
}

/// `pub const NAME: u16 = 1000;` in protocol/src/close.rs, by value.
pub fn close_codes_in_code(source: &str) -> BTreeSet<u16> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter(|l| l.contains(": u16 ="))
        .map(|l| {
            let value = l.split('=').nth(1).expect("a value").trim().trim_end_matches(';');
            value
                .parse()
                .unwrap_or_else(|_| panic!("close code {value:?} is a number"))
        })
        .collect()
}

/// Differences between what the code has and what the document lists.
pub fn compare<T: Ord + std::fmt::Debug + Clone>(what: &str, code: &BTreeSet<T>, doc: &[T]) -> Vec<String> {
    let listed: BTreeSet<T> = doc.iter().cloned().collect();
    let mut problems = Vec::new();
    let missing: Vec<&T> = code.difference(&listed).collect();
    if !missing.is_empty() {
        problems.push(format!("{what} in protocol/src but not in PROTOCOL.md: {missing:?}"));
    }
    let extra: Vec<&T> = listed.difference(code).collect();
    if !extra.is_empty() {
        problems.push(format!("{what} in PROTOCOL.md but not in protocol/src: {extra:?}"));
    }
    if listed.len() != doc.len() {
        problems.push(format!("{what}: PROTOCOL.md lists one twice"));
    }
    problems
}
