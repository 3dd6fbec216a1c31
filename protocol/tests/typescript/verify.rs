//! Checks the description against the serde encoding of the Rust types:
//! sample values built from the description must decode into the Rust type
//! and encode back to the same bytes, every field serde knows (sent or
//! skipped) must be described, in order, and each field's presence rule and
//! integer width must be the one serde applies.

use std::collections::BTreeMap;
use std::fmt;

use rmpv::Value;
use serde::de::DeserializeOwned;
use serde::ser::{self, Impossible, Serialize, SerializeStruct, Serializer};

use crate::model::{Def, Field, Presence, Shape, Ty};

/// A value after a round trip through its Rust type.
pub struct Decoded {
    /// `rmp_serde::to_vec_named` of the decoded value.
    pub bytes: Vec<u8>,
    /// Every field name serde visited when encoding it, skipped ones too.
    pub fields: Vec<&'static str>,
}

pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("writing to a Vec");
    out
}

pub fn round_trip<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Decoded, String> {
    let decoded: T = rmp_serde::from_slice(&encode(value)).map_err(|e| e.to_string())?;
    let bytes = rmp_serde::to_vec_named(&decoded).map_err(|e| e.to_string())?;
    let mut recorder = FieldRecorder::default();
    decoded.serialize(&mut recorder).map_err(|e| e.0)?;
    Ok(Decoded {
        bytes,
        fields: recorder.fields,
    })
}

/// The variant names serde lists when it refuses `probe` (JSON), in
/// declaration order.
pub fn variant_names<T: DeserializeOwned>(probe: &str) -> Vec<String> {
    let err = match serde_json::from_str::<T>(probe) {
        Ok(_) => panic!("{probe} decoded as a variant"),
        Err(e) => e.to_string(),
    };
    let expected = err
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("serde names the variants: {err}"));
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Checks every definition; returns the problems found.
pub fn check(defs: &[Def]) -> Vec<String> {
    let by_name: BTreeMap<&str, &Def> = defs.iter().map(|d| (d.name, d)).collect();
    let mut problems = Vec::new();
    for def in defs {
        match &def.shape {
            Shape::Struct(fields) => check_fields(def, None, fields, &by_name, &mut problems),
            Shape::Tagged { tag, variants } => {
                let serde_names = variant_names_of_tagged(def, tag);
                let described: Vec<String> = variants.iter().map(|v| v.name.to_owned()).collect();
                if serde_names != described {
                    problems.push(format!(
                        "{}: variants {described:?}, serde has {serde_names:?}",
                        def.name
                    ));
                }
                for v in variants {
                    check_fields(def, Some((tag, v.name)), &v.fields, &by_name, &mut problems);
                }
            }
            Shape::Strings { values, .. } => {
                if values.is_empty() {
                    problems.push(format!("{}: serde names no variants", def.name));
                }
                for value in values {
                    let sample = Value::from(value.as_str());
                    match (def.round_trip)(&sample) {
                        Ok(d) if d.bytes == encode(&sample) => {}
                        Ok(_) => problems.push(format!("{}: `{value}` is not encoded as its name", def.name)),
                        Err(e) => problems.push(format!("{}: `{value}`: {e}", def.name)),
                    }
                }
            }
        }
    }
    problems
}

fn variant_names_of_tagged(def: &Def, tag: &str) -> Vec<String> {
    let sample = Value::Map(vec![(Value::from(tag), Value::from("\u{0}no such variant"))]);
    match (def.round_trip)(&sample) {
        Ok(_) => vec!["<an unknown variant decoded>".into()],
        Err(e) => {
            let expected = e.split("expected ").nth(1).unwrap_or("").to_owned();
            expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
        }
    }
}

fn check_fields(
    def: &Def,
    tag: Option<(&str, &str)>,
    fields: &[Field],
    defs: &BTreeMap<&str, &Def>,
    problems: &mut Vec<String>,
) {
    let what = match tag {
        Some((_, v)) => format!("{}::{v}", def.name),
        None => def.name.to_owned(),
    };
    let entries = |fields: &[(&str, Value)]| {
        let mut map = Vec::new();
        if let Some((tag, variant)) = tag {
            map.push((Value::from(tag), Value::from(variant)));
        }
        map.extend(fields.iter().map(|(k, v)| (Value::from(*k), v.clone())));
        Value::Map(map)
    };
    let full: Vec<(&str, Value)> = fields.iter().map(|f| (f.name, sample(&f.ty, defs))).collect();
    let full_value = entries(&full);
    match (def.round_trip)(&full_value) {
        Err(e) => {
            problems.push(format!("{what}: the described sample does not decode: {e}"));
            return;
        }
        Ok(d) => {
            if d.bytes != encode(&full_value) {
                problems.push(format!(
                    "{what}: encodes differently from the description (kinds or order)"
                ));
            }
            let mut described: Vec<&str> = tag.iter().map(|(t, _)| *t).collect();
            described.extend(fields.iter().map(|f| f.name));
            if d.fields != described {
                problems.push(format!(
                    "{what}: serde's fields are {:?}, described {described:?}",
                    d.fields
                ));
            }
        }
    }
    for (i, f) in fields.iter().enumerate() {
        let with = |v: Option<Value>| {
            let mut fs = full.clone();
            match v {
                Some(v) => fs[i].1 = v,
                None => {
                    fs.remove(i);
                }
            }
            entries(&fs)
        };
        let without = with(None);
        // The value serde leaves out for this presence rule.
        let left_out = match f.presence {
            Presence::Required => None,
            Presence::Optional => Some(without.clone()),
            Presence::Flag => Some(with(Some(Value::from(false)))),
            Presence::NonEmpty => Some(with(Some(Value::Array(vec![])))),
            Presence::NonZero => Some(with(Some(Value::from(0)))),
        };
        match left_out {
            None => {
                if (def.round_trip)(&without).is_ok() {
                    problems.push(format!(
                        "{what}.{}: described required, but decodes when missing",
                        f.name
                    ));
                }
            }
            Some(value) => match (def.round_trip)(&value) {
                Ok(d) if d.bytes == encode(&without) => {}
                Ok(_) => problems.push(format!("{what}.{}: not left out as {:?} says", f.name, f.presence)),
                Err(e) => problems.push(format!("{what}.{}: {:?} value refused: {e}", f.name, f.presence)),
            },
        }
        // Integer widths: one above the described maximum is refused.
        let above = match f.ty {
            Ty::U8 => Some(u64::from(u8::MAX) + 1),
            Ty::U16 => Some(u64::from(u16::MAX) + 1),
            Ty::U32 => Some(u64::from(u32::MAX) + 1),
            _ => None,
        };
        if let Some(above) = above {
            if (def.round_trip)(&with(Some(Value::from(above)))).is_ok() {
                problems.push(format!("{what}.{}: wider than the described {:?}", f.name, f.ty));
            }
        }
        // A string enum field refuses other strings; a plain string takes any.
        let is_name = matches!(&f.ty, Ty::Named(n) if matches!(defs[n].shape, Shape::Strings { .. }));
        if is_name && (def.round_trip)(&with(Some(Value::from("\u{0}not a name")))).is_ok() {
            problems.push(format!("{what}.{}: takes any string, described as a name", f.name));
        }
    }
}

/// A value of the type with every optional part present.
fn sample(ty: &Ty, defs: &BTreeMap<&str, &Def>) -> Value {
    match ty {
        Ty::U8 => Value::from(u8::MAX),
        Ty::U16 => Value::from(u16::MAX),
        Ty::U32 => Value::from(u32::MAX),
        // The protocol keeps integers below 2^53 (a JavaScript number).
        Ty::U64 => Value::from((1u64 << 53) - 1),
        Ty::Bool => Value::from(true),
        Ty::Str => Value::from("s"),
        Ty::Bin => Value::Binary(vec![1, 2]),
        Ty::List(item) => Value::Array(vec![sample(item, defs)]),
        Ty::Named(name) => {
            let def = defs.get(name).unwrap_or_else(|| panic!("`{name}` is not described"));
            match &def.shape {
                Shape::Struct(fields) => Value::Map(
                    fields
                        .iter()
                        .map(|f| (Value::from(f.name), sample(&f.ty, defs)))
                        .collect(),
                ),
                Shape::Tagged { tag, variants } => {
                    let v = &variants[0];
                    let mut map = vec![(Value::from(*tag), Value::from(v.name))];
                    map.extend(v.fields.iter().map(|f| (Value::from(f.name), sample(&f.ty, defs))));
                    Value::Map(map)
                }
                Shape::Strings { values, .. } => Value::from(values[0].as_str()),
            }
        }
    }
}

/// A serializer that only records the field names of the outermost struct
/// (or internally tagged variant), including fields that
/// `skip_serializing_if` leaves out.
#[derive(Default)]
struct FieldRecorder {
    fields: Vec<&'static str>,
}

#[derive(Debug)]
struct NotAStruct(String);

impl fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAStruct {}

impl ser::Error for NotAStruct {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotAStruct(msg.to_string())
    }
}

fn refuse() -> Result<Impossible<(), NotAStruct>, NotAStruct> {
    Err(NotAStruct("not a struct".into()))
}

macro_rules! refuse_scalars {
    ($($method:ident($t:ty)),* $(,)?) => {
        $(fn $method(self, _: $t) -> Result<(), NotAStruct> {
            Err(NotAStruct("not a struct".into()))
        })*
    };
}

impl Serializer for &mut FieldRecorder {
    type Ok = ();
    type Error = NotAStruct;
    type SerializeSeq = Impossible<(), NotAStruct>;
    type SerializeTuple = Impossible<(), NotAStruct>;
    type SerializeTupleStruct = Impossible<(), NotAStruct>;
    type SerializeTupleVariant = Impossible<(), NotAStruct>;
    type SerializeMap = Impossible<(), NotAStruct>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), NotAStruct>;

    refuse_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_none(self) -> Result<(), NotAStruct> {
        Err(NotAStruct("not a struct".into()))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NotAStruct> {
        Err(NotAStruct("not a struct".into()))
    }
    fn serialize_unit(self) -> Result<(), NotAStruct> {
        Err(NotAStruct("not a struct".into()))
    }
    /// A string enum's value: no fields.
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), NotAStruct> {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<(), NotAStruct> {
        Err(NotAStruct("not a struct".into()))
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct("not a struct".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAStruct> {
        refuse()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAStruct> {
        refuse()
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotAStruct> {
        refuse()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAStruct> {
        refuse()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAStruct> {
        refuse()
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, NotAStruct> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAStruct> {
        refuse()
    }
}

impl SerializeStruct for &mut FieldRecorder {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, _: &T) -> Result<(), NotAStruct> {
        self.fields.push(key);
        Ok(())
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), NotAStruct> {
        self.fields.push(key);
        Ok(())
    }
    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}
