//! The doc comments of the Rust definitions in protocol/src, carried into
//! the generated TypeScript so a reader of either sees the same words.

use std::collections::HashMap;
use std::path::Path;

/// Keyed by (type name, member): member "" is the type itself, a variant
/// is its wire name, a field of a struct variant is `variant.field`; a
/// `pub const` is ("", its name).
pub struct Docs(HashMap<(String, String), String>);

impl Docs {
    pub fn get(&self, type_name: &str, member: &str) -> Option<&str> {
        self.0
            .get(&(type_name.to_owned(), member.to_owned()))
            .map(String::as_str)
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The identifier a member line declares: `pub name: T`, `Name {`, `Name,`.
fn member_name(line: &str) -> Option<&str> {
    let line = line.trim_start().strip_prefix("pub ").unwrap_or(line.trim_start());
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let name = &line[..end];
    let rest = line[end..].trim_start();
    let declares = rest.is_empty() || [":", "{", ",", "("].iter().any(|p| rest.starts_with(p));
    (!name.is_empty() && declares && !rest.starts_with("::")).then_some(name)
}

pub fn read(src: &Path) -> Docs {
    let mut docs = HashMap::new();
    let mut files: Vec<_> = std::fs::read_dir(src)
        .expect("protocol/src")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
        let text = std::fs::read_to_string(file).expect("a source file");
        let mut pending: Vec<String> = Vec::new();
        // (type name, brace depth inside it, current variant)
        let mut current: Option<(String, i32, Option<String>)> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(doc) = trimmed.strip_prefix("///") {
                pending.push(doc.strip_prefix(' ').unwrap_or(doc).to_owned());
                continue;
            }
            if trimmed.starts_with("#[") {
                continue;
            }
            let doc = (!pending.is_empty()).then(|| pending.join("\n"));
            pending.clear();
            let opens = line.matches('{').count() as i32;
            let closes = line.matches('}').count() as i32;
            match &mut current {
                None => {
                    if let Some(name) = trimmed.strip_prefix("pub const ").and_then(member_name) {
                        if let Some(doc) = &doc {
                            docs.entry((String::new(), name.to_owned())).or_insert(doc.clone());
                        }
                        continue;
                    }
                    let decl = trimmed
                        .strip_prefix("pub struct ")
                        .or_else(|| trimmed.strip_prefix("pub enum "));
                    if let Some(name) = decl.and_then(member_name) {
                        if let Some(doc) = doc {
                            docs.entry((name.to_owned(), String::new())).or_insert(doc);
                        }
                        if opens > closes {
                            current = Some((name.to_owned(), opens - closes, None));
                        }
                    }
                }
                Some((type_name, depth, variant)) => {
                    if let (Some(doc), Some(name)) = (doc, member_name(line)) {
                        let member = match (*depth, &variant) {
                            (1, _) if name.starts_with(|c: char| c.is_ascii_uppercase()) => snake_case(name),
                            (1, _) => name.to_owned(),
                            (2, Some(v)) => format!("{v}.{name}"),
                            _ => String::new(),
                        };
                        if !member.is_empty() {
                            docs.entry((type_name.clone(), member)).or_insert(doc);
                        }
                    }
                    if *depth == 1 {
                        if let Some(name) =
                            member_name(line).filter(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
                        {
                            *variant = Some(snake_case(name));
                        }
                    }
                    *depth += opens - closes;
                    if *depth <= 0 {
                        current = None;
                    }
                }
            }
        }
    }
    Docs(docs)
}

/// `doc` as a JSDoc comment at `indent`.
pub fn jsdoc(doc: Option<&str>, indent: &str) -> String {
    let Some(doc) = doc else { return String::new() };
    let doc = doc.replace("*/", "* /");
    let lines: Vec<&str> = doc.lines().collect();
    if lines.len() == 1 {
        return format!("{indent}/** {} */\n", lines[0]);
    }
    let body: String = lines
        .iter()
        .map(|l| {
            if l.is_empty() {
                format!("{indent} *\n")
            } else {
                format!("{indent} * {l}\n")
            }
        })
        .collect();
    format!("{indent}/**\n{body}{indent} */\n")
}
