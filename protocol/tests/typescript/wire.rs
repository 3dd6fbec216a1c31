//! The wire shape of every request, response, server message and nested
//! type, written into protocol/PROTOCOL.md from the same description the
//! TypeScript is generated from, between markers:
//!
//! ```text
//! <!-- wire: request accept_ticket -->
//! (generated: the Rust doc comment and the shape)
//! <!-- /wire -->
//! ```
//!
//! Kinds: `request` (a `Request` variant, by `op`), `response` (a
//! `Response` variant, by `kind`), `message` (a `ServerMessage` variant,
//! by `type`) and `type` (a nested definition, by its Rust name). The text
//! around the markers (preconditions, errors) is written by hand; every
//! variant has exactly one marker and every marker names one.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::docs::Docs;
use crate::model::{Def, Field, Presence, Shape, Ty};

pub const END: &str = "<!-- /wire -->";

/// The definitions whose variants are frames, with their marker kind.
pub const FRAME_KINDS: [(&str, &str); 3] = [
    ("request", "Request"),
    ("response", "Response"),
    ("message", "ServerMessage"),
];

/// The wrappers, described in "Encoding" rather than shown per variant.
const WRAPPERS: [&str; 2] = ["ClientFrame", "ServerFrame"];

/// A string enum with more values than this is named, not spelled out.
const MAX_INLINE_VALUES: usize = 6;

/// Every block the document must hold: marker (`request accept_ticket`) →
/// generated text.
pub fn blocks(defs: &[Def], docs: &Docs) -> BTreeMap<String, String> {
    let by_name: BTreeMap<&str, &Def> = defs.iter().map(|d| (d.name, d)).collect();
    let mut out = BTreeMap::new();
    for (kind, type_name) in FRAME_KINDS {
        let def = by_name[type_name];
        let Shape::Tagged { tag, variants } = &def.shape else {
            panic!("{type_name} is a tagged enum")
        };
        for v in variants {
            let mut text = paragraph(docs.get(def.name, v.name));
            text.push_str(&fenced(&object(Some((tag, v.name)), &v.fields, &by_name)));
            out.insert(format!("{kind} {}", v.name), text);
        }
    }
    for def in defs {
        let frame = FRAME_KINDS.iter().any(|(_, t)| *t == def.name);
        if frame || WRAPPERS.contains(&def.name) {
            continue;
        }
        if matches!(&def.shape, Shape::Strings { values, .. } if values.len() <= MAX_INLINE_VALUES) {
            continue; // spelled out where used
        }
        let mut text = paragraph(docs.get(def.name, ""));
        let shape = match &def.shape {
            Shape::Struct(fields) => object(None, fields, &by_name),
            Shape::Tagged { tag, variants } => variants
                .iter()
                .map(|v| object(Some((tag, v.name)), &v.fields, &by_name))
                .collect::<Vec<_>>()
                .join("\n// or\n"),
            // One per line: these are the long lists.
            Shape::Strings { values, .. } => values
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join("\n| "),
        };
        text.push_str(&fenced(&shape));
        out.insert(format!("type {}", def.name), text);
    }
    out
}

/// A doc comment as one paragraph, wrapped at 76 columns like the rest
/// of the document, or nothing.
fn paragraph(doc: Option<&str>) -> String {
    let Some(doc) = doc else { return String::new() };
    let mut out = String::new();
    let mut line = String::new();
    for word in doc.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 76 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push_str("\n\n");
    out
}

fn fenced(shape: &str) -> String {
    format!("```\n{shape}\n```\n")
}

fn ty(t: &Ty, by_name: &BTreeMap<&str, &Def>) -> String {
    match t {
        Ty::U8 => "<u8>".into(),
        Ty::U16 => "<u16>".into(),
        Ty::U32 => "<u32>".into(),
        Ty::U64 => "<u64>".into(),
        Ty::Bool => "<bool>".into(),
        Ty::Str => "<str>".into(),
        Ty::Bin => "<bin>".into(),
        Ty::List(item) => format!("[{}, …]", ty(item, by_name)),
        Ty::Named(name) => match by_name.get(name).map(|d| &d.shape) {
            Some(Shape::Strings { values, .. }) if values.len() <= MAX_INLINE_VALUES => values
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(" | "),
            _ => (*name).to_owned(),
        },
    }
}

/// One field: `"name": <kind>`, with `?` and a note when it may be left out.
fn field(f: &Field, by_name: &BTreeMap<&str, &Def>) -> (String, Option<&'static str>) {
    let (mark, value, note) = match f.presence {
        Presence::Required => ("", ty(&f.ty, by_name), None),
        Presence::Optional => ("?", ty(&f.ty, by_name), Some("left out when absent")),
        Presence::Flag => ("?", "true".to_owned(), Some("only sent when true")),
        Presence::NonEmpty => ("?", ty(&f.ty, by_name), Some("left out when empty")),
        Presence::NonZero => ("?", ty(&f.ty, by_name), Some("left out when 0")),
    };
    (format!("\"{}\"{mark}: {value}", f.name), note)
}

/// A MessagePack map: the tag first (if any), then the fields in wire
/// order. On one line when short and without notes.
fn object(tag: Option<(&str, &str)>, fields: &[Field], by_name: &BTreeMap<&str, &Def>) -> String {
    let mut entries: Vec<(String, Option<&str>)> = Vec::new();
    if let Some((tag, name)) = tag {
        entries.push((format!("\"{tag}\": \"{name}\""), None));
    }
    entries.extend(fields.iter().map(|f| field(f, by_name)));
    if entries.is_empty() {
        return "{}".into();
    }
    let one_line = format!(
        "{{ {} }}",
        entries.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>().join(", ")
    );
    if one_line.len() <= 76 && entries.iter().all(|(_, n)| n.is_none()) {
        return one_line;
    }
    let mut out = String::from("{\n");
    let last = entries.len() - 1;
    for (i, (entry, note)) in entries.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        let _ = match note {
            Some(n) => writeln!(out, "  {entry}{comma}  // {n}"),
            None => writeln!(out, "  {entry}{comma}"),
        };
    }
    out.push('}');
    out
}

/// The document with every marked block rewritten; errors for blocks
/// missing, unknown, repeated or unterminated.
pub fn rewrite(document: &str, blocks: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = String::with_capacity(document.len());
    let mut rest = document;
    // Markers open a line: a mention of one in the prose is not one.
    while let Some(start) = rest.find("\n<!-- wire: ").map(|i| i + 1) {
        let open_end = match rest[start..].find("-->") {
            Some(e) => start + e + 3,
            None => {
                problems.push("an unterminated `<!-- wire:` marker".into());
                break;
            }
        };
        let name = rest[start + "<!-- wire: ".len()..open_end - 3].trim().to_owned();
        let Some(close) = rest[open_end..].find(END) else {
            problems.push(format!("`<!-- wire: {name} -->` has no `{END}`"));
            break;
        };
        out.push_str(&rest[..open_end]);
        out.push('\n');
        match blocks.get(&name) {
            Some(text) => out.push_str(text),
            None => problems.push(format!("`<!-- wire: {name} -->` names nothing in protocol/src")),
        }
        *seen.entry(name).or_default() += 1;
        rest = &rest[open_end + close..];
    }
    out.push_str(rest);
    for (name, n) in &seen {
        if *n > 1 {
            problems.push(format!("`<!-- wire: {name} -->` appears {n} times"));
        }
    }
    let missing: Vec<&String> = blocks.keys().filter(|k| !seen.contains_key(*k)).collect();
    if !missing.is_empty() {
        let mut skeleton = String::new();
        for name in &missing {
            let _ = write!(skeleton, "\n<!-- wire: {name} -->\n{END}\n");
        }
        problems.push(format!(
            "PROTOCOL.md lacks the wire shape of {} frames or types; put these markers where each is \
             described and regenerate:\n{skeleton}",
            missing.len()
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
