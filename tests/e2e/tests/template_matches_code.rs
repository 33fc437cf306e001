//! template.yaml is the single source of truth for tables and the function's
//! environment (SPEC section 2): what the code reads, the template sets.

use std::collections::BTreeSet;
use std::path::Path;

use kvsync_devstack::template::{self, WEBHOOK_FUNCTION};

/// Every environment variable the function's code reads by name.
fn variables_read(dirs: &[&str]) -> BTreeSet<String> {
    let root = template::workspace_root();
    let mut found = BTreeSet::new();
    for dir in dirs {
        scan(&root.join(dir), &mut found);
    }
    found
}

fn scan(path: &Path, found: &mut BTreeSet<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)
            .expect("readable source dir")
            .flatten()
        {
            scan(&entry.path(), found);
        }
        return;
    }
    if path.extension().is_none_or(|e| e != "rs") {
        return;
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    for marker in ["env::var(\"", "env(\""] {
        for piece in text.split(marker).skip(1) {
            if let Some(name) = piece.split('"').next().filter(|n| is_variable(n)) {
                found.insert(name.to_string());
            }
        }
    }
}

fn is_variable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn every_variable_the_function_reads_is_set_by_the_template() {
    let read = variables_read(&["shared/src", "functions"]);
    assert!(
        read.contains("WORKFLOWS_TABLE") && read.contains("KVCORE_BASE_URL"),
        "the scan finds reads: {read:?}"
    );
    let set: BTreeSet<String> =
        template::function_env_vars(&template::template_path(), WEBHOOK_FUNCTION)
            .expect("template.yaml parses")
            .into_iter()
            .collect();
    // Lambda and the AWS SDK provide AWS_* themselves.
    let missing: Vec<&String> = read
        .iter()
        .filter(|v| !v.starts_with("AWS_") && !set.contains(*v))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code but not set in template.yaml: {missing:?}"
    );
}

#[test]
fn every_table_of_the_template_is_given_to_the_function() {
    let tables = template::tables(&template::template_path()).expect("template.yaml parses");
    let names: Vec<&str> = tables.iter().map(|t| t.logical_id.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for table in &tables {
        let env_var = table
            .env_var
            .as_deref()
            .unwrap_or_else(|| panic!("{} reaches no env var", table.logical_id));
        assert!(env_var.ends_with("_TABLE"), "{env_var}");
    }
    let read = variables_read(&["shared/src", "functions", "cli"]);
    for table in &tables {
        let env_var = table.env_var.as_deref().unwrap_or_default();
        assert!(
            read.contains(env_var),
            "the code never reads {env_var}: a table nobody uses"
        );
    }
}
