//! Build script: converts the hand-maintained OpenAPI YAML to JSON in `OUT_DIR`, so the binary
//! serves both forms without a YAML parser at run time, and a malformed document fails the build.

use std::path::Path;
use std::{env, fs};

const DOCUMENT: &str = "openapi/partner-center-device-deployment.yaml";

fn main() {
    println!("cargo::rerun-if-changed={DOCUMENT}");
    let yaml =
        fs::read_to_string(DOCUMENT).unwrap_or_else(|e| panic!("{DOCUMENT} cannot be read: {e}"));
    let document: serde_json::Value = serde_yaml_ng::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{DOCUMENT} is not valid YAML for a JSON document: {e}"));
    assert_eq!(
        document.get("openapi").and_then(serde_json::Value::as_str),
        Some("3.1.0"),
        "{DOCUMENT} must declare `openapi: 3.1.0`"
    );
    let json = serde_json::to_string(&document).expect("a JSON value serializes");
    let out_dir = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    fs::write(Path::new(&out_dir).join("openapi.json"), json)
        .unwrap_or_else(|e| panic!("cannot write openapi.json to OUT_DIR: {e}"));
}
