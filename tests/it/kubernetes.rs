//! `deploy/kubernetes/`: the manifests render with `kubectl kustomize` and validate with
//! `kubernetes-validate` (PyPI, offline schemas) for Kubernetes 1.31 in strict mode; the
//! configuration they mount passes `tokenmint config check` with the clients of their
//! Secret; the checksum annotations match the files they stand for; and the rotation
//! CronJob's commands work on that configuration.

use std::path::{Path, PathBuf};

use crate::cli::{output, tokenmint};
use crate::helpers::*;

/// The Kubernetes version the manifests are validated for.
const KUBERNETES_VERSION: &str = "1.31.0";

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(manifests().join(name)).unwrap()
}

/// The `KEY: value` pairs of `secret-clients.yaml`'s `stringData`, quotes removed.
fn client_variables() -> Vec<(String, String)> {
    read("secret-clients.yaml")
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, _)| k.starts_with("TOKENMINT_CLIENTS__"))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(|c| c == '\'' || c == '"').to_owned()))
        .collect()
}

fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_manifests_render_and_validate_for_kubernetes_1_31() {
    let Ok(render) = std::process::Command::new("kubectl").arg("kustomize").arg(manifests()).output() else {
        return skip_unless_required("kubectl is not installed (Debian's kubernetes-client)");
    };
    assert!(render.status.success(), "{}", String::from_utf8_lossy(&render.stderr));
    let rendered = String::from_utf8(render.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let validate = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .arg(&file)
        .output();
    let Ok(validate) = validate else {
        return skip_unless_required(
            "kubernetes-validate is not installed (tests/interop/python/requirements.txt)",
        );
    };
    let report =
        String::from_utf8_lossy(&validate.stdout).into_owned() + &String::from_utf8_lossy(&validate.stderr);
    assert!(validate.status.success(), "{report}");
    for resource in [
        "deployment/tokenmint",
        "service/tokenmint",
        "poddisruptionbudget/tokenmint",
        "horizontalpodautoscaler/tokenmint",
        "networkpolicy/tokenmint",
        "configmap/tokenmint-config",
        "secret/tokenmint-clients",
        "cronjob/tokenmint-rotate",
    ] {
        assert!(report.contains(&format!("passed for resource {resource} ")), "{resource}: {report}");
    }
    // The Prometheus Operator's kind has no schema in kubernetes-validate; it is rendered.
    assert!(rendered.contains("kind: ServiceMonitor"));
    // The key Secret is mounted as a directory: a subPath mount would never be updated.
    let sub_path = rendered.lines().any(|l| l.trim_start().trim_start_matches("- ").starts_with("subPath:"));
    assert!(!sub_path, "{rendered}");
    for needle in
        ["readOnlyRootFilesystem: true", "runAsNonRoot: true", "- ALL", "path: /readyz", "path: /healthz"]
    {
        assert!(rendered.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn the_checksum_annotations_match_the_config_and_the_client_secret() {
    let deployment = read("deployment.yaml");
    for (annotation, file) in [
        ("tokenmint.dev/config-sha256", "tokenmint.toml"),
        ("tokenmint.dev/clients-sha256", "secret-clients.yaml"),
    ] {
        let expected = format!("{annotation}: \"{}\"", sha256_hex(&read(file)));
        assert!(
            deployment.contains(&expected),
            "{file} changed: set `{expected}` in deploy/kubernetes/deployment.yaml (that rolls the replicas)"
        );
    }
}

#[tokio::test]
async fn the_mounted_configuration_passes_config_check_with_the_secret_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.arg("--config").arg(manifests().join("tokenmint.toml")).args(["config", "check"]);
    for (key, value) in client_variables() {
        cmd.env(key, value);
    }
    let (code, stdout, stderr) = output(cmd, None).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("bind 0.0.0.0:8443 (TLS)") && stdout.contains("1 client(s)"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[tokio::test]
async fn the_rotation_cronjob_commands_make_nothing_until_a_key_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let config = manifests().join("tokenmint.toml");
    let config = config.to_str().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let keys_dir = format!("TOKENMINT_KEYS__DIR={}", work.display());
    let (k, v) = keys_dir.split_once('=').unwrap();
    let keys = |args: &'static [&'static str]| {
        let mut cmd = tokenmint(dir.path());
        cmd.env(k, v).args(["--config", config, "keys"]).args(args);
        async move {
            let (code, stdout, stderr) = output(cmd, None).await;
            (code == 0, stdout + &stderr)
        }
    };
    // The first key, made once by hand (README: signing at once, so replicas are ready).
    let (ok, text) = keys(&["generate", "--activate-in", "0s"]).await;
    assert!(ok, "{text}");
    let count = || {
        std::fs::read_dir(&work)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "pem"))
            .count()
    };
    assert_eq!(count(), 1, "{text}");
    // A run within the period makes nothing; prune keeps the signing key.
    let (ok, text) = keys(&["rotate"]).await;
    assert!(ok && text.contains("nothing to do"), "{text}");
    let (ok, text) = keys(&["prune"]).await;
    assert!(ok, "{text}");
    assert_eq!(count(), 1);
}
