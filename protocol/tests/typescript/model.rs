//! The shape of the wire description: what the TypeScript generator reads
//! and what `verify` checks against the serde types.

use serde::{de::DeserializeOwned, Serialize};

use crate::verify::{self, Decoded};

/// A field's MessagePack kind. Integers carry their Rust width, which the
/// TypeScript codec enforces (u64 as a number below 2^53).
#[derive(Clone, Debug)]
pub enum Ty {
    U8,
    U16,
    U32,
    U64,
    Bool,
    Str,
    /// `Bytes`: a MessagePack `bin`, a `Uint8Array` in TypeScript.
    Bin,
    List(Box<Ty>),
    /// Another definition of the description, by its type name.
    Named(&'static str),
}

/// Whether a field is always sent, and when serde leaves it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// `Option<T>` (or empty `Bytes`) skipped when absent.
    Optional,
    /// `bool` with `skip_serializing_if = "Not::not"`: only `true` is sent.
    Flag,
    /// `Vec<T>` skipped when empty.
    NonEmpty,
    /// An integer skipped when zero.
    NonZero,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub presence: Presence,
}

pub struct Variant {
    pub name: &'static str,
    pub fields: Vec<Field>,
}

pub enum Shape {
    Struct(Vec<Field>),
    /// A serde internally tagged enum (`#[serde(tag = ...)]`).
    Tagged {
        tag: &'static str,
        variants: Vec<Variant>,
    },
    /// A unit-only enum, sent as its snake_case name. The names are read
    /// from serde itself, not written here.
    Strings {
        values: Vec<String>,
        what: &'static str,
    },
}

/// Decodes a MessagePack value into the Rust type and encodes it again.
pub type RoundTrip = fn(&rmpv::Value) -> Result<Decoded, String>;

pub struct Def {
    /// The Rust and TypeScript type name.
    pub name: &'static str,
    pub shape: Shape,
    pub round_trip: RoundTrip,
    /// For string enums and tagged enums: a TypeScript constant listing the
    /// names (`STAFF_ROLES`, `OPERATIONS`).
    pub list_const: Option<&'static str>,
    /// For tagged enums: a TypeScript alias of the tag's type (`Operation`).
    pub tag_alias: Option<&'static str>,
}

impl Def {
    pub fn listed_as(mut self, tag_alias: &'static str, list_const: Option<&'static str>) -> Def {
        self.tag_alias = Some(tag_alias);
        self.list_const = list_const;
        self
    }
}

pub use Ty::{Bin, Bool, Str, U16, U32, U64, U8};

pub fn list(item: Ty) -> Ty {
    Ty::List(Box::new(item))
}

pub fn named(name: &'static str) -> Ty {
    Ty::Named(name)
}

fn field(name: &'static str, ty: Ty, presence: Presence) -> Field {
    Field { name, ty, presence }
}

pub fn req(name: &'static str, ty: Ty) -> Field {
    field(name, ty, Presence::Required)
}

pub fn opt(name: &'static str, ty: Ty) -> Field {
    field(name, ty, Presence::Optional)
}

pub fn flag(name: &'static str) -> Field {
    field(name, Bool, Presence::Flag)
}

/// `item` is the list's item type.
pub fn non_empty(name: &'static str, item: Ty) -> Field {
    field(name, list(item), Presence::NonEmpty)
}

pub fn non_zero(name: &'static str, ty: Ty) -> Field {
    field(name, ty, Presence::NonZero)
}

pub fn variant(name: &'static str, fields: Vec<Field>) -> Variant {
    Variant { name, fields }
}

pub fn structure<T: Serialize + DeserializeOwned>(name: &'static str, fields: Vec<Field>) -> Def {
    Def {
        name,
        shape: Shape::Struct(fields),
        round_trip: verify::round_trip::<T>,
        list_const: None,
        tag_alias: None,
    }
}

pub fn tagged<T: Serialize + DeserializeOwned>(name: &'static str, tag: &'static str, variants: Vec<Variant>) -> Def {
    Def {
        name,
        shape: Shape::Tagged { tag, variants },
        round_trip: verify::round_trip::<T>,
        list_const: None,
        tag_alias: None,
    }
}

/// `what` names the set in decoding errors ("a staff role").
pub fn strings<T: Serialize + DeserializeOwned>(
    name: &'static str,
    list_const: &'static str,
    what: &'static str,
) -> Def {
    Def {
        name,
        shape: Shape::Strings {
            values: verify::variant_names::<T>("\"__no_such_variant__\""),
            what,
        },
        round_trip: verify::round_trip::<T>,
        list_const: Some(list_const),
        tag_alias: None,
    }
}
