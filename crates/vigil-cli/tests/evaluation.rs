//! The evaluation CI runs: the simulator's fixed seeds through every detector, scored by the spec's
//! rule. It fails when the macro F1 falls below the floor, and when the table published in
//! docs/evaluation.md is not what this run sees (regenerate it with scripts/evaluate.sh).

use std::process::Command;

/// The macro F1 below which CI fails.
const FLOOR: f64 = 0.85;

#[test]
fn evaluation_meets_the_floor_and_matches_the_published_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seeds = std::fs::read_to_string(root.join("docs/evaluation.seeds")).expect("docs/evaluation.seeds");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["eval", "--seeds", seeds.trim(), "--format", "markdown", "--min-f1", &FLOOR.to_string()])
        .output()
        .expect("vigil runs");
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(out.status.success(), "vigil eval failed (macro F1 below {FLOOR}?):\n{table}\n{}", String::from_utf8_lossy(&out.stderr));
    let doc = std::fs::read_to_string(root.join("docs/evaluation.md")).expect("docs/evaluation.md");
    let begin = "<!-- evaluation:begin -->\n";
    let a = doc.find(begin).expect("begin marker") + begin.len();
    let b = doc.find("<!-- evaluation:end -->").expect("end marker");
    assert_eq!(&doc[a..b], table, "docs/evaluation.md is stale: run scripts/evaluate.sh");
}
