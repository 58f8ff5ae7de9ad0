//! Generates the gRPC code from `proto/vigil/v1` with protox (a protobuf compiler in Rust: no
//! protoc to install) and tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A path without `..`, so that cargo notices every change of the file.
    let root = std::fs::canonicalize(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto"))?;
    let file = root.join("vigil/v1/vigil.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-changed=build.rs");
    let fds = protox::compile([&file], [&root])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
