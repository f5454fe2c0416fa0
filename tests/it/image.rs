//! The container image (`Containerfile`): its final stage, built with podman FROM scratch
//! from the binary these tests run, holds everything `tokenmint serve` needs. No container
//! can be run here, so the image's file system is exported (`podman export`) and the entry
//! point the image declares is run in it under `chroot`, as the image's non-root user, with
//! only the key directory writable; a token is fetched through it and verified.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::cli::started;
use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_tokenmint");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a command to success and returns its standard output.
fn must(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The final stage of the Containerfile, its files taken from `rootfs/` in the build
/// context instead of the build stage.
fn final_stage() -> String {
    let containerfile = std::fs::read_to_string(repo("Containerfile")).unwrap();
    let start = containerfile.find("\nFROM scratch").expect("a final stage FROM scratch");
    let stage = &containerfile[start..];
    assert!(stage.contains("COPY --from=build /rootfs/ /"), "{stage}");
    stage.replace("COPY --from=build /rootfs/ /", "COPY rootfs/ /")
}

#[tokio::test]
async fn the_image_built_from_scratch_serves_tokens_from_its_own_file_system() {
    if std::process::Command::new("podman").arg("--version").output().is_err() {
        return skip_unless_required("podman is not installed");
    }
    // chroot and chown need root (CI runs as root).
    if !must(std::process::Command::new("id").arg("-u")).trim().eq("0") {
        return skip_unless_required("not root: chroot needs it");
    }
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    std::fs::create_dir(&context).unwrap();
    must(
        std::process::Command::new("sh")
            .arg(repo("deploy/container/rootfs.sh"))
            .arg(BIN)
            .arg(context.join("rootfs")),
    );
    std::fs::write(context.join("Containerfile"), final_stage()).unwrap();
    let tag = format!("localhost/tokenmint-test:{}", std::process::id());
    must(std::process::Command::new("podman").args(["build", "-q", "-t", &tag]).arg(&context));
    let inspect = must(std::process::Command::new("podman").args([
        "image",
        "inspect",
        &tag,
        "--format",
        "{{json .Config.User}} {{json .Config.Entrypoint}} {{json .Config.WorkingDir}}",
    ]));
    let container = must(std::process::Command::new("podman").args(["create", &tag])).trim().to_owned();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut export = std::process::Command::new("podman")
        .args(["export", &container])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let tar = export.stdout.take().unwrap();
    must(std::process::Command::new("tar").arg("-x").arg("-C").arg(&root).stdin(tar));
    assert!(export.wait().unwrap().success(), "podman export failed");
    must(std::process::Command::new("podman").args(["rm", &container]));
    must(std::process::Command::new("podman").args(["rmi", &tag]));

    // What the image declares: non-root, `tokenmint serve`, the mount points' parent.
    let mut declared = inspect.split_whitespace();
    assert_eq!(declared.next(), Some("\"65532:65532\""), "{inspect}");
    let entrypoint: Vec<String> = serde_json::from_str(declared.next().unwrap()).unwrap();
    assert_eq!(entrypoint, ["/tokenmint", "serve"]);
    assert_eq!(declared.next(), Some("\"/etc/tokenmint\""));
    // Nothing but the binary, its libraries and the mount points: no shell.
    assert!(!root.join("bin/sh").exists());

    // The mounts, as deploy/kubernetes/ has them: the configuration, and the key directory,
    // the only place the service may write.
    let etc = root.join("etc/tokenmint");
    let config = format!("issuer = \"{ISSUER}\"\n[keys]\ndir = \"/etc/tokenmint/keys\"\n{CLIENTS}");
    std::fs::write(etc.join("config/tokenmint.toml"), config).unwrap();
    std::os::unix::fs::chown(etc.join("keys"), Some(65532), Some(65532)).unwrap();
    let mut cmd = Command::new("chroot");
    cmd.arg("--userspec=65532:65532").arg(&root).args(&entrypoint);
    cmd.args(["--config", "/etc/tokenmint/config/tokenmint.toml", "--bind", "127.0.0.1:0"]);
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("TOKENMINT_SERVER__SHUTDOWN_DELAY", "0s");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let served = started(&mut cmd).await;

    let http = test_http();
    let res = basic_token(&http, &served.addr, "svc-a", SECRET_A).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let jwks = get_json(&http, &format!("http://{}/.well-known/jwks.json", served.addr)).await;
    verify_with(&jwks, body["access_token"].as_str().unwrap(), "https://api.one").unwrap();
    // The first key was created in the key directory, by the image's user.
    let key = std::fs::read_dir(etc.join("keys")).unwrap().next().expect("a key file").unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&key.metadata().unwrap()), 65532);
    let (graceful, log) = served.stop().await;
    assert!(graceful, "{log:?}");
}
