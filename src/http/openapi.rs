//! The emulator's OpenAPI document, embedded at build time: the YAML as written, and the JSON
//! that `build.rs` converts it to.

/// `openapi/partner-center-device-deployment.yaml`, as maintained.
pub const YAML: &str = include_str!("../../openapi/partner-center-device-deployment.yaml");

/// The same document as compact JSON.
pub const JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));
