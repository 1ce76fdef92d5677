//! A bad configuration file, as a user meets it: the program names the
//! file, the line and the field, and exits non-zero. No root needed.

use std::process::Command;

const LAB: &str = env!("CARGO_BIN_EXE_gecko-lab");

/// The repository's example file; the broken ones below are edits of it.
const GOOD: &str = include_str!("../examples/gecko.toml");

/// Writes `text` to a file, runs check-config on it: (exit code, stdout, stderr, path).
fn check(text: &str) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(LAB)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

#[test]
fn a_good_file_is_summarised() {
    let (code, stdout, _, _) = check(GOOD);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("ok: G = 2001:db8:ffff::1, 2 nodes, contact node1"),
        "{stdout}"
    );
}

#[test]
fn broken_files_name_file_line_and_field() {
    let cases = [
        // (edit, expected "line: field")
        (
            GOOD.replace("\"2001:db8:1:2::2\"", "\"2001:db8::zz\""),
            "17: field `nodes[1].address`",
        ),
        (
            GOOD.replace("service_port = 7\n", ""),
            "1: field `service_port`",
        ),
        (
            GOOD.replace("node = \"node1\"", "node = \"node7\""),
            "21: field `contact.node`",
        ),
        (
            GOOD.replace("mn_ha_spi = 256", "mn_ha_spi = \"256\""),
            "26: field `security.mn_ha_spi`",
        ),
        (
            GOOD.replace("refresh_secs = 20", "refresh_secs = 20\nlifetime = 3"),
            "32: field `timers.lifetime`",
        ),
        (
            GOOD.replace("[timers]", "[timers"),
            "29: invalid table header",
        ),
    ];
    for (text, expected) in cases {
        let (code, stdout, stderr, path) = check(&text);
        assert_eq!(code, 1, "{expected}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains(&format!("{path}:{expected}")),
            "expected `{path}:{expected}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let out = Command::new(LAB)
        .args(["check-config", "/nonexistent/cluster.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/cluster.toml: cannot read"),
        "{stderr}"
    );
}
