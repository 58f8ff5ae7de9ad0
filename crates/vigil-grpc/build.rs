//! Generates the gRPC code from `proto/vigil/v1` with protox (a protobuf compiler in Rust: no
//! protoc to install) and tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A path without `..`, so that cargo notices every change of the file.
    // The directory at run time, not at compile time: a build script compiled in one checkout may
    // be run for another that shares the target directory.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::fs::canonicalize(std::path::Path::new(&manifest).join("../../proto"))?;
    let file = root.join("vigil/v1/vigil.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-changed=build.rs");
    let fds = protox::compile([&file], [&root])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
