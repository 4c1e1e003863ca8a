//! Terraform values (cty) on the wire: msgpack and JSON decoding and msgpack
//! encoding, typed by the schema, with unknown values (also refined ones),
//! null, arbitrary-precision numbers, lists, sets, maps and objects.

use rmpv::Value as Msgpack;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A cty type, as schemas declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
}

impl Type {
    /// The JSON type constraint Terraform expects in schemas.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let attrs: serde_json::Map<String, serde_json::Value> = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", attrs])
            }
        }
    }
}

/// A number kept as its exact decimal text, so no precision is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(pub String);

impl Number {
    pub fn from_i64(value: i64) -> Number {
        Number(value.to_string())
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }
}

/// An unknown value; `refinements` is the raw msgpack of cty's refinements
/// (nullness, string prefix, number and length bounds), kept to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub refinements: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Unknown(Unknown),
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
}

/// cty's msgpack extension codes.
const EXT_UNKNOWN: i8 = 0;
const EXT_REFINED_UNKNOWN: i8 = 12;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: {message}")]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

fn decode_error(path: &str, message: impl Into<String>) -> DecodeError {
    DecodeError { path: if path.is_empty() { "(root)".into() } else { path.to_string() }, message: message.into() }
}

impl Value {
    pub fn unknown() -> Value {
        Value::Unknown(Unknown { refinements: None })
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// Known all the way down.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(items) | Value::Set(items) => items.iter().all(Value::is_wholly_known),
            Value::Map(items) | Value::Object(items) => items.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(attrs) => Some(attrs),
            _ => None,
        }
    }

    /// The attribute of an object value (null when absent).
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.as_object().and_then(|o| o.get(name)).unwrap_or(&NULL)
    }

    pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
        let raw = rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| decode_error("", format!("invalid msgpack: {e}")))?;
        from_msgpack(raw, ty, "")
    }

    pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
        let raw: &RawValue = serde_json::from_slice(bytes).map_err(|e| decode_error("", format!("invalid JSON: {e}")))?;
        from_json(raw, ty, "")
    }

    pub fn encode_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = rmpv::encode::write_value(&mut out, &to_msgpack(self));
        out
    }

    /// The value as plain JSON for the management API; `None` when null or unknown.
    pub fn to_api_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            Value::Null | Value::Unknown(_) => return None,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => serde_json::from_str(&n.0).ok()?,
            Value::String(s) => J::String(s.clone()),
            Value::List(items) | Value::Set(items) => J::Array(items.iter().filter_map(Value::to_api_json).collect()),
            Value::Map(items) | Value::Object(items) => {
                J::Object(items.iter().filter_map(|(k, v)| v.to_api_json().map(|v| (k.clone(), v))).collect())
            }
        })
    }

    /// Builds a value of `ty` from API JSON (missing or null: null).
    pub fn from_api_json(json: Option<&serde_json::Value>, ty: &Type) -> Value {
        use serde_json::Value as J;
        let Some(json) = json else { return Value::Null };
        match (ty, json) {
            (_, J::Null) => Value::Null,
            (Type::String, J::String(s)) => Value::String(s.clone()),
            (Type::String, other) => Value::String(other.to_string()),
            (Type::Number, J::Number(n)) => Value::Number(Number(n.to_string())),
            (Type::Bool, J::Bool(b)) => Value::Bool(*b),
            (Type::List(t), J::Array(items)) => Value::List(items.iter().map(|i| Value::from_api_json(Some(i), t)).collect()),
            (Type::Set(t), J::Array(items)) => Value::Set(items.iter().map(|i| Value::from_api_json(Some(i), t)).collect()),
            (Type::Map(t), J::Object(items)) => Value::Map(items.iter().map(|(k, v)| (k.clone(), Value::from_api_json(Some(v), t))).collect()),
            (Type::Object(attrs), J::Object(items)) => {
                Value::Object(attrs.iter().map(|(k, t)| (k.clone(), Value::from_api_json(items.get(k), t))).collect())
            }
            _ => Value::Null,
        }
    }
}

fn child(path: &str, key: impl std::fmt::Display) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn from_msgpack(raw: Msgpack, ty: &Type, path: &str) -> Result<Value, DecodeError> {
    match raw {
        Msgpack::Nil => return Ok(Value::Null),
        Msgpack::Ext(EXT_UNKNOWN, _) => return Ok(Value::unknown()),
        Msgpack::Ext(EXT_REFINED_UNKNOWN, payload) => return Ok(Value::Unknown(Unknown { refinements: Some(payload) })),
        _ => {}
    }
    match (ty, raw) {
        (Type::String, Msgpack::String(s)) => s.into_str().map(Value::String).ok_or_else(|| decode_error(path, "string is not UTF-8")),
        (Type::Bool, Msgpack::Boolean(b)) => Ok(Value::Bool(b)),
        (Type::Number, Msgpack::Integer(i)) => Ok(Value::Number(Number(i.to_string()))),
        (Type::Number, Msgpack::F64(f)) => Ok(Value::Number(Number(float_text(f)))),
        (Type::Number, Msgpack::F32(f)) => Ok(Value::Number(Number(float_text(f64::from(f))))),
        // cty sends numbers that fit neither int64 nor float64 as decimal strings.
        (Type::Number, Msgpack::String(s)) => {
            let text = s.into_str().unwrap_or_default();
            if text.parse::<f64>().is_err() {
                return Err(decode_error(path, format!("{text:?} is not a number")));
            }
            Ok(Value::Number(Number(text)))
        }
        (Type::List(t) | Type::Set(t), Msgpack::Array(items)) => {
            let values = items.into_iter().enumerate().map(|(i, v)| from_msgpack(v, t, &child(path, i))).collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) { Value::Set(values) } else { Value::List(values) })
        }
        (Type::Map(t), Msgpack::Map(entries)) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                let key = k.as_str().ok_or_else(|| decode_error(path, "map key is not a string"))?.to_string();
                let value = from_msgpack(v, t, &child(path, &key))?;
                map.insert(key, value);
            }
            Ok(Value::Map(map))
        }
        (Type::Object(attrs), Msgpack::Map(entries)) => {
            let mut given: BTreeMap<String, Msgpack> = BTreeMap::new();
            for (k, v) in entries {
                let key = k.as_str().ok_or_else(|| decode_error(path, "attribute name is not a string"))?.to_string();
                given.insert(key, v);
            }
            let mut object = BTreeMap::new();
            for (name, attr_ty) in attrs {
                let value = match given.remove(name) {
                    Some(raw) => from_msgpack(raw, attr_ty, &child(path, name))?,
                    None => Value::Null,
                };
                object.insert(name.clone(), value);
            }
            Ok(Value::Object(object))
        }
        (ty, other) => Err(decode_error(path, format!("expected {}, got msgpack {other}", ty.to_json()))),
    }
}

fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

fn from_json(raw: &RawValue, ty: &Type, path: &str) -> Result<Value, DecodeError> {
    let text = raw.get().trim();
    if text == "null" {
        return Ok(Value::Null);
    }
    let invalid = |e: serde_json::Error| decode_error(path, e.to_string());
    match ty {
        Type::String => serde_json::from_str::<String>(text).map(Value::String).map_err(invalid),
        Type::Bool => serde_json::from_str::<bool>(text).map(Value::Bool).map_err(invalid),
        // The raw text keeps every digit of the number.
        Type::Number => {
            let unquoted = serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_string());
            if unquoted.parse::<f64>().is_err() {
                return Err(decode_error(path, format!("{unquoted} is not a number")));
            }
            Ok(Value::Number(Number(unquoted)))
        }
        Type::List(t) | Type::Set(t) => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(invalid)?;
            let values = items.into_iter().enumerate().map(|(i, v)| from_json(v, t, &child(path, i))).collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) { Value::Set(values) } else { Value::List(values) })
        }
        Type::Map(t) => {
            let items: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(invalid)?;
            let mut map = BTreeMap::new();
            for (k, v) in items {
                let value = from_json(v, t, &child(path, &k))?;
                map.insert(k, value);
            }
            Ok(Value::Map(map))
        }
        Type::Object(attrs) => {
            let items: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(invalid)?;
            let mut object = BTreeMap::new();
            for (name, attr_ty) in attrs {
                let value = match items.get(name) {
                    Some(raw) => from_json(raw, attr_ty, &child(path, name))?,
                    None => Value::Null,
                };
                object.insert(name.clone(), value);
            }
            Ok(Value::Object(object))
        }
    }
}

fn to_msgpack(value: &Value) -> Msgpack {
    match value {
        Value::Null => Msgpack::Nil,
        Value::Unknown(Unknown { refinements: Some(raw) }) => Msgpack::Ext(EXT_REFINED_UNKNOWN, raw.clone()),
        Value::Unknown(Unknown { refinements: None }) => Msgpack::Ext(EXT_UNKNOWN, vec![0]),
        Value::Bool(b) => Msgpack::Boolean(*b),
        Value::Number(n) => number_to_msgpack(n),
        Value::String(s) => Msgpack::String(s.clone().into()),
        Value::List(items) | Value::Set(items) => Msgpack::Array(items.iter().map(to_msgpack).collect()),
        Value::Map(items) | Value::Object(items) => {
            Msgpack::Map(items.iter().map(|(k, v)| (Msgpack::String(k.clone().into()), to_msgpack(v))).collect())
        }
    }
}

/// Integers as integers, floats that round-trip as floats, everything else
/// as its exact decimal string (as cty does).
fn number_to_msgpack(n: &Number) -> Msgpack {
    if let Ok(i) = n.0.parse::<i64>() {
        return Msgpack::from(i);
    }
    if let Ok(u) = n.0.parse::<u64>() {
        return Msgpack::from(u);
    }
    match n.0.parse::<f64>() {
        Ok(f) if f.is_finite() && f.to_string() == n.0 => Msgpack::F64(f),
        _ => Msgpack::String(n.0.clone().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_type() -> Type {
        Type::Object(BTreeMap::from([
            ("name".to_string(), Type::String),
            ("weight".to_string(), Type::Number),
            ("on".to_string(), Type::Bool),
            ("tags".to_string(), Type::Map(Box::new(Type::String))),
            ("tools".to_string(), Type::Set(Box::new(Type::String))),
            ("limit".to_string(), Type::Object(BTreeMap::from([("calls".to_string(), Type::Number)]))),
        ]))
    }

    #[test]
    fn msgpack_round_trip_with_unknowns_and_nulls() {
        let value = Value::Object(BTreeMap::from([
            ("name".to_string(), Value::string("a")),
            ("weight".to_string(), Value::Number(Number::from_i64(70))),
            ("on".to_string(), Value::unknown()),
            ("tags".to_string(), Value::Map(BTreeMap::from([("env".to_string(), Value::string("dev"))]))),
            ("tools".to_string(), Value::Set(vec![Value::string("echo"), Value::unknown()])),
            ("limit".to_string(), Value::Null),
        ]));
        let bytes = value.encode_msgpack();
        assert_eq!(Value::decode_msgpack(&bytes, &object_type()).unwrap(), value);
    }

    #[test]
    fn refined_unknowns_are_kept() {
        // ext 12 with a refinement map {1: false} (definitely not null).
        let refined = Msgpack::Ext(EXT_REFINED_UNKNOWN, vec![0x81, 0x01, 0xc2]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &refined).unwrap();
        let value = Value::decode_msgpack(&bytes, &Type::String).unwrap();
        assert_eq!(value, Value::Unknown(Unknown { refinements: Some(vec![0x81, 0x01, 0xc2]) }));
        assert_eq!(value.encode_msgpack(), bytes);
    }

    #[test]
    fn big_numbers_keep_every_digit() {
        let big = "123456789012345678901234567890.5";
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &Msgpack::String(big.into())).unwrap();
        let value = Value::decode_msgpack(&bytes, &Type::Number).unwrap();
        assert_eq!(value, Value::Number(Number(big.into())));
        assert_eq!(value.encode_msgpack(), bytes);
        let json = Value::decode_json(b"123456789012345678901234567890", &Type::Number).unwrap();
        assert_eq!(json, Value::Number(Number("123456789012345678901234567890".into())));
        assert_eq!(
            Value::decode_msgpack(&Value::Number(Number("2.5".into())).encode_msgpack(), &Type::Number).unwrap(),
            Value::Number(Number("2.5".into()))
        );
    }

    #[test]
    fn json_state_decodes_by_schema() {
        let json = br#"{"name":"a","weight":70,"on":true,"tags":{"env":"dev"},"tools":["echo"],"limit":{"calls":5},"extra":1}"#;
        let value = Value::decode_json(json, &object_type()).unwrap();
        assert_eq!(value.attr("limit").attr("calls"), &Value::Number(Number::from_i64(5)));
        assert_eq!(value.attr("tools"), &Value::Set(vec![Value::string("echo")]));
        let wrong = Value::decode_json(br#"{"weight":"heavy"}"#, &object_type()).unwrap_err();
        assert_eq!(wrong.path, "weight");
    }

    #[test]
    fn type_mismatch_names_the_path() {
        let bytes = Value::Object(BTreeMap::from([("limit".to_string(), Value::string("x"))])).encode_msgpack();
        let err = Value::decode_msgpack(&bytes, &object_type()).unwrap_err();
        assert_eq!(err.path, "limit");
    }
}
