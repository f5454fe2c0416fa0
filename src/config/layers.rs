//! The layers, lowest first: built-in defaults < the TOML file < `TOKENMINT_*` environment
//! variables (`__` for nesting); and reading them into a [`RawConfig`], section by section,
//! recording every problem instead of stopping at the first.
//!
//! The file's `[[clients]]` and `[[users]]` are taken out and deserialized straight from the
//! TOML tree: passing 100,000 clients through figment's value tree (convert, merge, clone)
//! costs seconds. The `TOKENMINT_CLIENTS__*` and `TOKENMINT_USERS__*` variables are read
//! apart from the rest, so they add to the file's lists instead of replacing them.
//!
//! Only this module imports figment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Serialized};
use figment::value::{Dict, Value};
use figment::{Figment, Provider as _};

use super::error::{Kind, Problem};
use super::raw::{RawConfig, VerifyServerSettings};
use super::{DEFAULT_CONFIG_PATH, ENV_PREFIX};
use crate::files;

/// The top-level keys a configuration may have.
/// (`clients` and `users` are read from the file directly, and from their own variables.)
/// (`verify_server` belongs to `tokenmint verify-server`; the service only checks its shape.)
const SECTIONS: &[&str] = &["issuer", "server", "tokens", "keys", "grants", "metrics", VERIFY_SERVER];

/// The section of `tokenmint verify-server`.
const VERIFY_SERVER: &str = "verify_server";

/// Reads defaults < the file (`path`, or [`DEFAULT_CONFIG_PATH`] if it exists) < the
/// environment. With `path`, that file must exist.
/// Also returns the file it read, if any.
pub(super) fn load(
    path: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Result<(RawConfig, Option<PathBuf>), Problem> {
    let (file, source) = FileLayer::find(path)?;
    let misread = misread_variables(ENV_PREFIX, problems);
    let env = env_under(ENV_PREFIX, &misread)
        .filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            !k.starts_with("clients__") && !k.starts_with("users__")
        })
        .split("__");
    let figment = defaults().merge(&file).merge(env);
    let groups = EnvGroups {
        clients: Figment::from(env_under(&format!("{ENV_PREFIX}CLIENTS__"), &misread).split("__")),
        users: Figment::from(env_under(&format!("{ENV_PREFIX}USERS__"), &misread).split("__")),
    };
    Ok((read(&figment, file, Some(&groups), problems), source))
}

/// `[verify_server]` alone: the file (`path`, or [`DEFAULT_CONFIG_PATH`] if it exists) <
/// `TOKENMINT_VERIFY_SERVER__*`. The file's other sections are neither read nor checked.
pub(super) fn load_verify_server(path: Option<&Path>) -> Result<VerifyServerSettings, Vec<Problem>> {
    let (file, _) = FileLayer::find(path).map_err(|p| vec![p])?;
    let mut problems = Vec::new();
    // Only `TOKENMINT_VERIFY_SERVER__*` is read (and checked): `verify_server__` once the
    // prefix is stripped, in figment's lower case.
    let section = format!("{VERIFY_SERVER}__");
    let misread = misread_variables(&format!("{ENV_PREFIX}{}", section.to_ascii_uppercase()), &mut problems);
    let env = env_under(ENV_PREFIX, &misread)
        .filter(move |k| k.as_str().to_ascii_lowercase().starts_with(&section))
        .split("__");
    let figment = Figment::from(&file).merge(env);
    let root = merged(&figment, &mut problems);
    let settings = Sections { figment: &figment, root: &root }.get(VERIFY_SERVER, &mut problems);
    match settings {
        Some(settings) if problems.is_empty() => Ok(settings),
        _ => Err(problems),
    }
}

/// Defaults < the given TOML text; the environment is not read.
pub(super) fn from_toml(text: &str, problems: &mut Vec<Problem>) -> Result<RawConfig, Problem> {
    let file = FileLayer::parse(text, None)?;
    Ok(read(&defaults().merge(&file), file, None, problems))
}

/// The variables under `prefix` (`TOKENMINT_*`, or the part of it a command reads) that
/// figment cannot read, each recorded as a problem; their names upper-cased.
///
/// figment 0.10.19 unescapes a quoted string (`"..."`, also inside a list or a table) by
/// slicing it at a character index as if it were a byte index: a `\` after a non-ASCII
/// character panics (the `config_env` fuzz target found it), or, where that index happens to
/// fall between characters, reads the value wrong.
/// Such a value is refused before figment sees it.
fn misread_variables(prefix: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if !name.to_ascii_uppercase().starts_with(prefix) {
            continue;
        }
        let value = value.to_string_lossy();
        let misread = value.contains('"')
            && value.find(|c: char| !c.is_ascii()).is_some_and(|first| value[first..].contains('\\'));
        if misread {
            let message = "a quoted string with `\\` after a non-ASCII character cannot be read (figment \
                           misreads its escapes): write the characters themselves, without escapes";
            problems.push(invalid(name.clone(), message.to_owned(), ""));
            names.push(name.to_ascii_uppercase());
        }
    }
    names
}

/// The environment variables under `prefix`, but for those named in `skip` (upper-cased).
fn env_under(prefix: &str, skip: &[String]) -> Env {
    let (prefix_upper, skip) = (prefix.to_ascii_uppercase(), skip.to_vec());
    Env::prefixed(prefix).filter(move |k| {
        let name = format!("{prefix_upper}{}", k.as_str()).to_ascii_uppercase();
        !skip.contains(&name)
    })
}

/// The `TOKENMINT_CLIENTS__*` and `TOKENMINT_USERS__*` variables.
struct EnvGroups {
    clients: Figment,
    users: Figment,
}

/// Reads every section and entry of the merged layers.
fn read(
    figment: &Figment,
    file: FileLayer,
    env: Option<&EnvGroups>,
    problems: &mut Vec<Problem>,
) -> RawConfig {
    let root = merged(figment, problems);
    for (key, value) in root.iter().filter(|(k, _)| !SECTIONS.contains(&k.as_str())) {
        problems.push(Kind::UnknownSetting { key: key.clone(), origin: origin(figment, value) }.into());
    }
    let sections = Sections { figment, root: &root };
    let issuer = sections.get("issuer", problems);
    let server = sections.get("server", problems).unwrap_or_default();
    let tokens = sections.get("tokens", problems).unwrap_or_default();
    let keys = sections.get("keys", problems).unwrap_or_default();
    let grants = sections.get("grants", problems).unwrap_or_default();
    let metrics = sections.get("metrics", problems).unwrap_or_default();
    let _: Option<VerifyServerSettings> = sections.get(VERIFY_SERVER, problems);
    problems.extend(file.problems.into_iter().map(Problem::from));
    let mut clients = entries(file.clients, "clients", "id", problems);
    let mut users = entries(file.users, "users", "username", problems);
    let trusted_issuers = entries(file.trusted_issuers, "trusted_issuers", "issuer", problems);
    if let Some(env) = env {
        clients.extend(env_entries(&env.clients, "CLIENTS", problems).into_iter().map(
            |(label, key, mut settings): (String, String, crate::clients::ClientSettings)| {
                settings.id.get_or_insert(key);
                (label, settings)
            },
        ));
        users.extend(env_entries(&env.users, "USERS", problems).into_iter().map(
            |(label, key, mut settings): (String, String, crate::users::UserSettings)| {
                settings.username.get_or_insert(key);
                (label, settings)
            },
        ));
    }
    RawConfig {
        issuer,
        server,
        tokens,
        keys,
        grants,
        metrics,
        clients,
        users,
        trusted_issuers,
        master_secret_in_file: file.table.get("keys").and_then(|k| k.get("master_secret")).is_some(),
    }
}

/// The layers merged into one tree, once: every `extract_inner` would merge and clone the
/// whole tree again, which with 100,000 clients costs seconds. When they cannot be merged,
/// the problems are recorded and the tree is empty.
fn merged(figment: &Figment, problems: &mut Vec<Problem>) -> Dict {
    match figment.data() {
        Ok(mut profiles) => profiles.remove(&figment::Profile::Default).unwrap_or_default(),
        Err(e) => {
            problems.extend(e.into_iter().map(|e| Kind::Layers(unquoted(e)).into()));
            Dict::new()
        }
    }
}

/// The merged configuration tree, read section by section.
struct Sections<'a> {
    figment: &'a Figment,
    root: &'a Dict,
}

impl Sections<'_> {
    /// Deserializes one top-level section. On failure it records the problems and returns
    /// `None`. serde stops at a section's first bad field, so a failed section is re-checked
    /// one setting at a time to report every bad one.
    fn get<T: serde::de::DeserializeOwned>(&self, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
        let empty = Value::from(Dict::new());
        let value = self.root.get(key).unwrap_or(&empty);
        let first = match value.deserialize::<T>() {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let before = problems.len();
        if let Value::Dict(_, dict) = value {
            for (name, setting) in dict {
                let single = Value::from(BTreeMap::from([(name.clone(), setting.clone())]));
                if let Err(e) = single.deserialize::<T>() {
                    let origin = origin(self.figment, setting);
                    problems.extend(
                        e.into_iter().map(|e| invalid(format!("{key}.{name}"), unquoted(e), &origin)),
                    );
                }
            }
        }
        if problems.len() == before {
            let origin = origin(self.figment, value);
            problems.extend(first.into_iter().map(|e| invalid(key.to_owned(), unquoted(e), &origin)));
        }
        None
    }
}

/// A figment error as a message that does not repeat a string given where another type was
/// expected: such a string is often meant for a nested setting whose name was mistyped
/// (`TOKENMINT_USERS__ALICE_PASSWORD_HASH`, one `_` short of a separator), so it may be a
/// secret or a hash. Its length is given instead; the setting and the expected type are named.
fn unquoted(mut e: figment::Error) -> String {
    use figment::error::{Actual, Kind as FigmentKind};
    if let FigmentKind::InvalidType(actual, _) = &mut e.kind
        && let Actual::Str(value) = actual
    {
        *actual =
            Actual::Other(format!("a string of {} characters (not repeated here)", value.chars().count()));
    }
    e.to_string()
}

/// A value that did not deserialize.
fn invalid(setting: String, message: String, origin: &str) -> Problem {
    Kind::Invalid { setting, message, origin: origin.to_owned() }.into()
}

/// " (from <source>)" for a value, naming the file or environment it came from.
fn origin(figment: &Figment, value: &Value) -> String {
    figment.get_metadata(value.tag()).map(|m| format!(" (from {})", m.name)).unwrap_or_default()
}

/// The configuration file, parsed once, with its `[[clients]]`, `[[users]]` and
/// `[[trusted_issuers]]` lists taken out. The rest of the file is a figment layer.
#[derive(Debug, Default)]
struct FileLayer {
    table: toml::Table,
    clients: Vec<toml::Value>,
    users: Vec<toml::Value>,
    trusted_issuers: Vec<toml::Value>,
    /// Problems with the shape of the lists themselves.
    problems: Vec<Kind>,
    path: Option<PathBuf>,
}

impl FileLayer {
    /// The file `path` names (which must exist), or else [`DEFAULT_CONFIG_PATH`] if it
    /// exists, or none; with the path read.
    fn find(path: Option<&Path>) -> Result<(Self, Option<PathBuf>), Problem> {
        let source = match path {
            Some(p) if !p.is_file() => return Err(Kind::NotFound(p.to_path_buf()).into()),
            Some(p) => Some(p.to_path_buf()),
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => Some(PathBuf::from(DEFAULT_CONFIG_PATH)),
            None => None,
        };
        let file = match &source {
            Some(p) => FileLayer::read(p)?,
            None => FileLayer::default(),
        };
        Ok((file, source))
    }

    fn read(path: &Path) -> Result<Self, Problem> {
        let text = files::read_text_bounded(path, files::MAX_CONFIG_FILE)
            .map_err(|e| Kind::File { name: path.display().to_string(), message: e.to_string() })?;
        Self::parse(&text, Some(path.to_path_buf()))
    }

    fn parse(text: &str, path: Option<PathBuf>) -> Result<Self, Problem> {
        let name = path.as_ref().map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Kind::File { name: name.clone(), message: e.to_string() })?;
        let mut problems = Vec::new();
        let mut list = |key: &'static str| match table.remove(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(_) => {
                problems.push(Kind::NotAList { key, name: name.clone() });
                Vec::new()
            }
        };
        let (clients, users, trusted_issuers) = (list("clients"), list("users"), list("trusted_issuers"));
        Ok(FileLayer { table, clients, users, trusted_issuers, problems, path })
    }
}

impl figment::Provider for FileLayer {
    fn metadata(&self) -> figment::Metadata {
        let named = figment::Metadata::named("TOML file");
        match &self.path {
            Some(p) => named.source(figment::Source::File(p.clone())),
            None => named,
        }
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.table).data()
    }
}

/// The built-in defaults: every section present, so serde defaults fill each one.
fn defaults() -> Figment {
    Figment::from(Serialized::defaults(serde_json::json!({
        "issuer": "http://127.0.0.1:8080",
        "server": {},
        "tokens": {},
        "keys": {},
        "grants": {},
        "metrics": {},
    })))
}

/// Deserializes the `[[clients]]` or `[[users]]` entries of the file, each labelled for
/// messages by its place and `name_field`.
fn entries<S: serde::de::DeserializeOwned>(
    values: Vec<toml::Value>,
    section: &str,
    name_field: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, S)> {
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let name = value.get(name_field).and_then(|v| v.as_str()).unwrap_or("?");
        let label = format!("{section}[{i}] ({name_field} `{name}`)");
        match S::deserialize(value) {
            Ok(settings) => out.push((label, settings)),
            Err(e) => problems.push(invalid(label, e.message().to_owned(), "")),
        }
    }
    out
}

/// Reads `TOKENMINT_<GROUP>__<KEY>__<FIELD>` variables: one entry per `<KEY>` (lowercased by
/// figment), with its label and key.
fn env_entries<S: serde::de::DeserializeOwned>(
    env: &Figment,
    group: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String, S)> {
    let groups = match env.extract::<BTreeMap<String, Value>>() {
        Ok(g) => g,
        Err(e) => {
            let setting = format!("{ENV_PREFIX}{group}__*");
            problems.extend(e.into_iter().map(|e| invalid(setting.clone(), unquoted(e), "")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (key, value) in groups {
        let label = format!("{ENV_PREFIX}{group}__{}__*", key.to_ascii_uppercase());
        match value.deserialize::<S>() {
            Ok(settings) => out.push((label, key, settings)),
            Err(e) => problems.extend(e.into_iter().map(|e| invalid(label.clone(), unquoted(e), ""))),
        }
    }
    out
}
