//! Writes the TypeScript types and codec tables from the description.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::docs::{jsdoc, Docs};
use crate::model::{Def, Field, Presence, Shape, Ty};

const REGENERATE: &str = "PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript";

fn header(what: &str) -> String {
    format!(
        "// GENERATED from the Rust definitions in protocol/src: do not edit.\n\
         // {what}\n\
         // The wire description is protocol/tests/typescript/schema.rs, checked\n\
         // against the serde types; the documentation is on the Rust types.\n\
         // Regenerate: {REGENERATE}\n\
         // (without the variable the same test fails when this file is stale).\n\n"
    )
}

fn ts_type(ty: &Ty) -> String {
    match ty {
        Ty::U8 | Ty::U16 | Ty::U32 | Ty::U64 => "number".into(),
        Ty::Bool => "boolean".into(),
        Ty::Str => "string".into(),
        Ty::Bin => "Bytes".into(),
        Ty::List(item) => format!("{}[]", ts_type(item)),
        Ty::Named(name) => (*name).into(),
    }
}

fn ts_fields(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| {
            let optional = if f.presence == Presence::Required { "" } else { "?" };
            format!("{}{optional}: {}", f.name, ts_type(&f.ty))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn quoted_list(values: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    values.into_iter().map(|v| format!("  \"{}\",\n", v.as_ref())).collect()
}

/// `types.ts`: every type of the protocol, the name lists, the version.
pub fn types(defs: &[Def], docs: &Docs) -> String {
    let mut out = header("The types of protocol version 1: frames, requests, responses, notices, errors.");
    out.push_str(
        "/** A MessagePack `bin`. Integers are numbers: the protocol keeps them below 2^53. */\n\
         export type Bytes = Uint8Array;\n\n",
    );
    let _ = writeln!(
        out,
        "/** The protocol version this client speaks, carried in every frame as `v`. */\n\
         export const PROTOCOL_VERSION = {};\n\n\
         /** The WebSocket path of protocol version 1. */\n\
         export const WEBSOCKET_PATH = \"{}\";\n",
        parasol_protocol::PROTOCOL_VERSION,
        parasol_protocol::WEBSOCKET_PATH
    );
    for def in defs {
        out.push_str(&jsdoc(docs.get(def.name, ""), ""));
        match &def.shape {
            Shape::Struct(fields) => {
                let _ = writeln!(out, "export interface {} {{", def.name);
                for f in fields {
                    let optional = if f.presence == Presence::Required { "" } else { "?" };
                    out.push_str(&jsdoc(docs.get(def.name, f.name), "  "));
                    let _ = writeln!(out, "  {}{optional}: {};", f.name, ts_type(&f.ty));
                }
                out.push_str("}\n\n");
            }
            Shape::Tagged { tag, variants } => {
                let _ = writeln!(out, "export type {} =", def.name);
                for (i, v) in variants.iter().enumerate() {
                    let end = if i + 1 == variants.len() { ";" } else { "" };
                    out.push_str(&jsdoc(docs.get(def.name, v.name), "  "));
                    let field_doc = |f: &Field| docs.get(def.name, &format!("{}.{}", v.name, f.name));
                    if v.fields.iter().any(|f| field_doc(f).is_some()) {
                        let _ = writeln!(out, "  | {{\n      {tag}: \"{}\";", v.name);
                        for f in &v.fields {
                            let optional = if f.presence == Presence::Required { "" } else { "?" };
                            out.push_str(&jsdoc(field_doc(f), "      "));
                            let _ = writeln!(out, "      {}{optional}: {};", f.name, ts_type(&f.ty));
                        }
                        let _ = writeln!(out, "    }}{end}");
                        continue;
                    }
                    let fields = ts_fields(&v.fields);
                    let rest = if fields.is_empty() {
                        String::new()
                    } else {
                        format!("; {fields}")
                    };
                    let _ = writeln!(out, "  | {{ {tag}: \"{}\"{rest} }}{end}", v.name);
                }
                out.push('\n');
                if let Some(alias) = def.tag_alias {
                    let _ = writeln!(out, "export type {alias} = {}[\"{tag}\"];\n", def.name);
                    if let Some(list) = def.list_const {
                        let _ = writeln!(
                            out,
                            "/** Every `{tag}` of `{}`, in the order of the Rust enum. */\n\
                             export const {list}: readonly {alias}[] = [\n{}];\n",
                            def.name,
                            quoted_list(variants.iter().map(|v| v.name))
                        );
                    }
                }
            }
            Shape::Strings { values, .. } => {
                let union: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                let _ = writeln!(out, "export type {} = {};", def.name, union.join(" | "));
                let list = def.list_const.expect("a string enum has a list constant");
                let _ = writeln!(
                    out,
                    "export const {list}: readonly {}[] = [\n{}];\n",
                    def.name,
                    quoted_list(values)
                );
            }
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn codec_name(type_name: &str) -> String {
    let mut chars = type_name.chars();
    let first = chars.next().expect("a type name").to_ascii_lowercase();
    std::iter::once(first).chain(chars).collect()
}

fn codec_expr(ty: &Ty, used: &mut BTreeSet<&'static str>) -> String {
    let prim = |name: &'static str, used: &mut BTreeSet<&'static str>| {
        used.insert(name);
        name.to_owned()
    };
    match ty {
        Ty::U8 => prim("u8", used),
        Ty::U16 => prim("u16", used),
        Ty::U32 => prim("u32", used),
        Ty::U64 => prim("u64", used),
        Ty::Bool => prim("bool", used),
        Ty::Str => prim("str", used),
        Ty::Bin => prim("bin", used),
        Ty::List(item) => {
            used.insert("list");
            format!("list({})", codec_expr(item, used))
        }
        Ty::Named(name) => codec_name(name),
    }
}

/// `{ a: required(u64), b: flag }`, one field a line when that is long.
fn field_specs(fields: &[Field], indent: &str, used: &mut BTreeSet<&'static str>) -> String {
    let specs: Vec<String> = fields
        .iter()
        .map(|f| {
            let spec = match (f.presence, &f.ty) {
                (Presence::Flag, _) => {
                    used.insert("flag");
                    "flag".to_owned()
                }
                (Presence::NonEmpty, Ty::List(item)) => {
                    used.insert("nonEmptyList");
                    format!("nonEmptyList({})", codec_expr(item, used))
                }
                (Presence::NonEmpty, other) => panic!("non_empty on a non-list {other:?}"),
                (presence, ty) => {
                    let wrapper = match presence {
                        Presence::Required => "required",
                        Presence::Optional => "optional",
                        _ => "nonZero",
                    };
                    used.insert(wrapper);
                    format!("{wrapper}({})", codec_expr(ty, used))
                }
            };
            format!("{}: {spec}", f.name)
        })
        .collect();
    let one_line = format!("{{ {} }}", specs.join(", "));
    if specs.is_empty() {
        "{}".into()
    } else if one_line.len() + indent.len() <= 90 {
        one_line
    } else {
        let lines: String = specs.iter().map(|s| format!("{indent}  {s},\n")).collect();
        format!("{{\n{lines}{indent}}}")
    }
}

/// `schema.ts`: the codec tables the hand-written codec runs on.
pub fn schema(defs: &[Def]) -> String {
    let mut used = BTreeSet::new();
    let mut body = String::new();
    for def in defs {
        let name = codec_name(def.name);
        match &def.shape {
            Shape::Struct(fields) => {
                used.insert("struct");
                let _ = writeln!(
                    body,
                    "export const {name} = struct<{}>({});\n",
                    def.name,
                    field_specs(fields, "", &mut used)
                );
            }
            Shape::Tagged { tag, variants } => {
                used.insert("tagged");
                let _ = writeln!(
                    body,
                    "export const {name} = tagged<{}, \"{tag}\">(\"{tag}\", {{",
                    def.name
                );
                for v in variants {
                    let _ = writeln!(body, "  {}: {},", v.name, field_specs(&v.fields, "  ", &mut used));
                }
                body.push_str("});\n\n");
            }
            Shape::Strings { what, .. } => {
                used.insert("oneOf");
                let list = def.list_const.expect("a string enum has a list constant");
                let _ = writeln!(body, "export const {name} = oneOf<{}>({list}, \"{what}\");\n", def.name);
            }
        }
    }
    let mut out = header("The codec tables of protocol version 1: field order here is wire order.");
    let combinators: Vec<&str> = used.into_iter().collect();
    let _ = writeln!(out, "import {{ {} }} from \"../fields\";", combinators.join(", "));
    let type_names: String = defs.iter().map(|d| format!("  {},\n", d.name)).collect();
    let _ = writeln!(out, "import type {{\n{type_names}}} from \"./types\";");
    let lists: Vec<&str> = defs
        .iter()
        .filter(|d| matches!(d.shape, Shape::Strings { .. }))
        .filter_map(|d| d.list_const)
        .collect();
    let lists: String = lists.iter().map(|l| format!("  {l},\n")).collect();
    let _ = writeln!(out, "import {{\n{lists}}} from \"./types\";\n");
    out.push_str(body.trim_end());
    out.push('\n');
    out
}

/// `constants.ts`: the limits and the WebSocket close codes, with their
/// values read from the Rust constants.
pub fn constants(docs: &Docs) -> String {
    use parasol_protocol::{close, limits};
    let limits: [(&str, u64); 13] = [
        ("MAX_FRAME_BYTES", limits::MAX_FRAME_BYTES as u64),
        ("TRANSPORT_SLACK_BYTES", limits::TRANSPORT_SLACK_BYTES as u64),
        ("MAX_MLS_MESSAGE_BYTES", limits::MAX_MLS_MESSAGE_BYTES as u64),
        ("MAX_GROUP_STATE_BYTES", limits::MAX_GROUP_STATE_BYTES as u64),
        ("MAX_KEY_PACKAGE_BYTES", limits::MAX_KEY_PACKAGE_BYTES as u64),
        (
            "MAX_KEY_PACKAGES_PER_CLIENT",
            limits::MAX_KEY_PACKAGES_PER_CLIENT.into(),
        ),
        (
            "MAX_KEY_PACKAGES_PER_PUBLISH",
            limits::MAX_KEY_PACKAGES_PER_PUBLISH as u64,
        ),
        ("MAX_KEY_PACKAGE_LIFETIME_SECS", limits::MAX_KEY_PACKAGE_LIFETIME_SECS),
        ("MAX_GROUPS_PER_CLIENT", limits::MAX_GROUPS_PER_CLIENT.into()),
        ("MAX_MEMBERS_PER_GROUP", limits::MAX_MEMBERS_PER_GROUP.into()),
        ("MAX_MAILBOX_ENVELOPES", limits::MAX_MAILBOX_ENVELOPES),
        ("MAX_FETCH_LIMIT", limits::MAX_FETCH_LIMIT.into()),
        ("PUSH_WINDOW", limits::PUSH_WINDOW),
    ];
    let codes: [(&str, u16); 10] = [
        ("NORMAL", close::NORMAL),
        ("GOING_AWAY", close::GOING_AWAY),
        ("UNSUPPORTED_DATA", close::UNSUPPORTED_DATA),
        ("POLICY_VIOLATION", close::POLICY_VIOLATION),
        ("MESSAGE_TOO_BIG", close::MESSAGE_TOO_BIG),
        ("INTERNAL_ERROR", close::INTERNAL_ERROR),
        ("REPLACED", close::REPLACED),
        ("SLOW_CONSUMER", close::SLOW_CONSUMER),
        ("IDLE_TIMEOUT", close::IDLE_TIMEOUT),
        ("SESSION_ENDED", close::SESSION_ENDED),
    ];
    let mut out = header("The limits (the server's default configuration) and the WebSocket close codes.");
    for (name, value) in limits {
        out.push_str(&jsdoc(docs.get("", name), ""));
        let _ = writeln!(out, "export const {name} = {value};");
    }
    out.push_str("\n/** The WebSocket close codes the server uses; PROTOCOL.md says what a client does on each. */\n");
    out.push_str("export const CLOSE = {\n");
    for (name, code) in codes {
        out.push_str(&jsdoc(docs.get("", name), "  "));
        let _ = writeln!(out, "  {name}: {code},");
    }
    out.push_str("} as const;\n");
    out
}
