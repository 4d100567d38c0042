//! JSON reading shared by the request decoders, the control plane and the document loader: how
//! a value's type is named, how a field's path is written, and serde's failures turned into a
//! path and a problem. Free of HTTP, so the store's document loader can use it too.

use serde_json::Value;

/// Why a JSON value was refused: where (`customers[0].batches[1].devices[3]`, empty for the
/// whole value) and what is wrong, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub problem: String,
}

impl Invalid {
    pub fn at(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "`{}` {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for Invalid {}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks that the members `keys` of the object `value` (at `path`), when given, are objects or
/// `null`: serde would otherwise read a struct from an array of its fields.
pub fn objects_at(value: &Value, path: &str, keys: &[&str]) -> Result<(), Invalid> {
    for key in keys {
        if let Some(v) = value.get(*key)
            && !(v.is_object() || v.is_null())
        {
            return Err(Invalid::at(
                join(path, key),
                format!("must be an object, got {}.", type_name(v)),
            ));
        }
    }
    Ok(())
}

/// Reads `T` from a JSON object with serde, naming the failing field; `what` names the whole
/// value in the message when it is not an object (`the body`, `the document`).
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, Invalid> {
    // serde would also read a struct from an array of its fields; these documents are objects.
    if !value.is_object() {
        return Err(Invalid::at(
            "",
            format!("{what} must be a JSON object, got {}.", type_name(&value)),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let mut path = e.path().to_string();
        // serde names an unknown key as its own path; the message names it already, so point at
        // the object that holds it.
        if message.starts_with("unknown field") {
            path = path
                .rsplit_once('.')
                .map_or_else(String::new, |(parent, _)| parent.to_owned());
        }
        if path == "." {
            path.clear();
        }
        Invalid::at(path, format!("{message}."))
    })
}
