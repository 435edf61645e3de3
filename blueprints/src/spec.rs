//! The blueprint file (DESIGN §7): one TOML file, one workflow. Parsing is
//! strict — an unknown key, a key that does not belong to the blueprint's
//! kind, a password written into the file, or a value of the wrong shape is
//! an error that names the file and line, before anything runs.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use policy_engine::model::LocationUri;

use crate::cron::Schedule;

/// An error in a blueprint file, as `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SpecError {
    /// The file, as given.
    pub file: String,
    /// 1-based line (1 when the whole file is at fault).
    pub line: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// What a blueprint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Replace each table's contents with the source's current rows.
    Snapshot,
    /// Load rows beyond the bookmark.
    Incremental,
    /// Load log files not yet loaded.
    Logs,
}

/// The format of log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs, reason = "variants are the formats DESIGN §7 names")]
pub enum LogFormat {
    Common,
    Combined,
    Alb,
    Cloudtrail,
    Jsonl,
    Csv,
    Parquet,
}

/// Bookmark order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Rows beyond the largest committed tuple.
    #[default]
    Asc,
    /// Rows before the smallest committed tuple.
    Desc,
}

/// `[source.bookmark]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bookmark {
    /// Columns compared as a tuple.
    pub keys: Vec<String>,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub order: Order,
}

/// `[source]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `postgres://`, `mysql://`, `sqlite:///abs/file.db`; for logs
    /// `file:///dir/` or `s3://bucket/prefix/`.
    pub url: String,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// Tables to load (`%` and `_` as in SQL LIKE, see [`crate::select`]);
    /// empty loads every table.
    #[serde(default)]
    pub include: Vec<String>,
    /// Tables to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Logs only: the file format.
    pub format: Option<LogFormat>,
    /// Incremental only.
    pub bookmark: Option<Bookmark>,
}

/// `[target]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The catalog database (created when missing).
    pub database: String,
    /// Where the tables go, inside a registered location.
    pub location: String,
    /// Table name = prefix + source table name (schema dropped).
    #[serde(default)]
    pub table_prefix: String,
    /// Hive partition columns.
    #[serde(default)]
    pub partition_by: Vec<String>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Malformed rows tolerated before the run fails.
    #[serde(default)]
    pub max_errors: u64,
    /// A cron expression (5 fields, or AWS's `cron(…)`), UTC.
    pub schedule: Option<String>,
}

/// A blueprint, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// Unique per account; names its runs and its bookmark.
    pub name: String,
    /// What it does.
    pub kind: Kind,
    /// Where rows come from.
    pub source: Source,
    /// Where they go.
    pub target: Target,
    /// How it runs.
    #[serde(default)]
    pub run: Run,
}

/// The line of `key` in `[section]` (`""` for the top level), or 1.
fn line_of(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        // `[ source . bookmark ]   # comment` is the header `source.bookmark`.
        let header = l
            .strip_prefix('[')
            .filter(|h| !h.starts_with('['))
            .and_then(|h| h.split_once(']'))
            .filter(|(_, rest)| rest.trim().is_empty() || rest.trim().starts_with('#'))
            .map(|(h, _)| h.split('.').map(str::trim).collect::<Vec<_>>().join("."));
        if let Some(h) = header {
            current = h;
            if key.is_empty() && current == section {
                return i + 1;
            }
            continue;
        }
        if current == section
            && l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return i + 1;
        }
    }
    1
}

/// Whether a database URL carries a password: in its user part
/// (`user:secret@host`) or as a query parameter (`?password=…`).
fn url_holds_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or(rest);
    let in_user = authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'));
    let in_query = rest.split_once('?').is_some_and(|(_, q)| {
        q.split(['&', '#']).any(|kv| {
            let k = kv
                .split_once('=')
                .map_or(kv, |(k, _)| k)
                .to_ascii_lowercase();
            matches!(k.as_str(), "password" | "sslpassword" | "pass" | "pwd")
        })
    });
    in_user || in_query
}

/// A database URL must name a TCP host and carry no options: options and
/// percent-encoded hosts can point a client at a local socket, where a
/// server may trust the operating-system user that lakegate runs as.
fn network_host(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if rest.contains(['?', '#']) {
        return Err("a database URL takes no options (`?…`); write it as \
                    `SCHEME://USER@HOST:PORT/DB` and set connection options on the server"
            .into());
    }
    let path = rest.get(authority.len()..).unwrap_or("");
    if host.is_empty() || authority.contains(['%', ',']) || path.contains('@') {
        return Err(
            "a database URL names one TCP host (`SCHEME://USER@HOST:PORT/DB`); \
                    local sockets and host lists are not sources"
                .into(),
        );
    }
    Ok(())
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Blueprint {
    /// Reads and checks a blueprint file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        use std::io::Read;
        const MAX_BYTES: u64 = 1 << 20;
        let file = path.display().to_string();
        let fail = |message: String| SpecError {
            file: file.clone(),
            line: 1,
            message,
        };
        let meta =
            std::fs::metadata(path).map_err(|e| fail(format!("cannot read the blueprint: {e}")))?;
        if !meta.is_file() {
            return Err(fail("is not a regular file".into()));
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| fail(format!("cannot read the blueprint as UTF-8 text: {e}")))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(fail(format!(
                "is larger than {MAX_BYTES} bytes; a blueprint is one small TOML file"
            )));
        }
        Self::parse(&text, &file)
    }

    /// Parses and checks blueprint `text` read from `file`.
    pub fn parse(text: &str, file: &str) -> Result<Self, SpecError> {
        let bp: Blueprint = toml::from_str(text).map_err(|e| SpecError {
            file: file.to_string(),
            line: e
                .span()
                .map(|s| text.get(..s.start).map_or(1, |t| t.lines().count().max(1)))
                .map_or(1, |l| {
                    // A span at a line start counts the previous line.
                    let at = e.span().map_or(0, |s| s.start);
                    if text.get(..at).is_some_and(|t| t.ends_with('\n')) {
                        l + 1
                    } else {
                        l
                    }
                }),
            message: e.message().to_string(),
        })?;
        bp.check(text, file)?;
        Ok(bp)
    }

    fn check(&self, text: &str, file: &str) -> Result<(), SpecError> {
        let fail = |section: &str, key: &str, message: String| SpecError {
            file: file.to_string(),
            line: line_of(text, section, key),
            message,
        };
        if !is_ident(&self.name) {
            return Err(fail(
                "",
                "name",
                format!(
                    "name `{}` is not an identifier; use lower-case letters, digits and `_`",
                    self.name.chars().take(64).collect::<String>()
                ),
            ));
        }
        let src = &self.source;
        let scheme = src.url.split_once("://").map(|(s, _)| s).unwrap_or("");
        let db_scheme = matches!(scheme, "postgres" | "postgresql" | "mysql" | "sqlite");
        let log_scheme = matches!(scheme, "file" | "s3");
        match self.kind {
            Kind::Logs if !log_scheme => {
                return Err(fail(
                    "source",
                    "url",
                    "a logs blueprint reads `file:///dir/` or `s3://bucket/prefix/`".into(),
                ));
            }
            Kind::Snapshot | Kind::Incremental if !db_scheme => {
                return Err(fail(
                    "source",
                    "url",
                    format!(
                        "a {} blueprint reads a database: `postgres://USER@HOST:PORT/DB`, \
                         `mysql://USER@HOST:PORT/DB` or `sqlite:///ABSOLUTE/FILE.db`",
                        if self.kind == Kind::Snapshot {
                            "snapshot"
                        } else {
                            "incremental"
                        }
                    ),
                ));
            }
            _ => {}
        }
        if matches!(scheme, "postgres" | "postgresql" | "mysql") && url_holds_password(&src.url) {
            return Err(fail(
                "source",
                "url",
                "the URL holds a password; put it in an environment variable and name that \
                 variable with `password_env` (secrets never go in the file)"
                    .into(),
            ));
        }
        if matches!(scheme, "postgres" | "postgresql" | "mysql")
            && let Err(m) = network_host(&src.url)
        {
            return Err(fail("source", "url", m));
        }
        if scheme == "sqlite"
            && (!src.url.starts_with("sqlite:///") || src.url.len() <= "sqlite:///".len())
        {
            return Err(fail(
                "source",
                "url",
                "write a SQLite file as `sqlite:///ABSOLUTE/PATH.db`".into(),
            ));
        }
        if self.kind == Kind::Logs && !src.url.ends_with('/') {
            return Err(fail(
                "source",
                "url",
                "a logs location is a folder; end the URL with `/`".into(),
            ));
        }
        if self.kind == Kind::Logs
            && let Err(e) = LocationUri::parse(&src.url)
        {
            return Err(fail("source", "url", e.to_string()));
        }
        if src.password_env.is_some() && !matches!(scheme, "postgres" | "postgresql" | "mysql") {
            return Err(fail(
                "source",
                "password_env",
                "`password_env` is for PostgreSQL and MySQL sources; this source takes no \
                 password"
                    .into(),
            ));
        }
        if let Some(v) = &src.password_env {
            let ok = !v.is_empty()
                && v.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(fail(
                    "source",
                    "password_env",
                    "`password_env` names an environment variable: upper-case letters, digits \
                     and `_`"
                        .into(),
                ));
            }
        }
        for (key, list) in [("include", &src.include), ("exclude", &src.exclude)] {
            if self.kind == Kind::Logs && !list.is_empty() {
                return Err(fail(
                    "source",
                    key,
                    format!("`{key}` selects database tables; a logs blueprint has none"),
                ));
            }
            if let Some(p) = list.iter().find(|p| {
                p.is_empty()
                    || !p
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '%' | '.' | '$'))
            }) {
                return Err(fail(
                    "source",
                    key,
                    format!(
                        "`{}` is not a table pattern; write SCHEMA.TABLE or TABLE, with `%` and \
                         `_` as in SQL LIKE",
                        p.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        match (self.kind, &src.format) {
            (Kind::Logs, None) => {
                return Err(fail(
                    "source",
                    "",
                    "a logs blueprint needs `format`: common, combined, alb, cloudtrail, jsonl, \
                     csv or parquet"
                        .into(),
                ));
            }
            (Kind::Snapshot | Kind::Incremental, Some(_)) => {
                return Err(fail(
                    "source",
                    "format",
                    "`format` is for logs blueprints only".into(),
                ));
            }
            _ => {}
        }
        match (self.kind, &src.bookmark) {
            (Kind::Incremental, None) => {
                return Err(fail(
                    "source",
                    "",
                    "an incremental blueprint needs `[source.bookmark]` with `keys`".into(),
                ));
            }
            (Kind::Snapshot | Kind::Logs, Some(_)) => {
                return Err(fail(
                    "source.bookmark",
                    "",
                    "`[source.bookmark]` is for incremental blueprints only".into(),
                ));
            }
            (_, Some(b)) => {
                let mut seen = BTreeSet::new();
                if b.keys.is_empty() {
                    return Err(fail(
                        "source.bookmark",
                        "keys",
                        "name at least one bookmark column in `keys`".into(),
                    ));
                }
                for k in &b.keys {
                    if !is_ident(&k.to_ascii_lowercase()) || !seen.insert(k.to_ascii_lowercase()) {
                        return Err(fail(
                            "source.bookmark",
                            "keys",
                            format!(
                                "bookmark key `{}` is not a column name, or appears twice",
                                k.chars().take(64).collect::<String>()
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        let t = &self.target;
        if !is_ident(&t.database) {
            return Err(fail(
                "target",
                "database",
                "`database` is not an identifier; use lower-case letters, digits and `_`".into(),
            ));
        }
        let target_loc = LocationUri::parse(&t.location).ok();
        if target_loc.is_none() || !t.location.ends_with('/') {
            return Err(fail(
                "target",
                "location",
                "`location` is a folder URL inside a registered location: `file:///DIR/` or \
                 `s3://BUCKET/PREFIX/`"
                    .into(),
            ));
        }
        // A logs blueprint must not read what it writes.
        if self.kind == Kind::Logs
            && let (Ok(s), Some(d)) = (LocationUri::parse(&src.url), &target_loc)
            && (s.as_str().starts_with(d.as_str()) || d.as_str().starts_with(s.as_str()))
        {
            return Err(fail(
                "target",
                "location",
                "the target location overlaps the logs it reads; write the tables somewhere \
                 else"
                    .into(),
            ));
        }
        if !t.table_prefix.is_empty() && !is_ident(&t.table_prefix) {
            return Err(fail(
                "target",
                "table_prefix",
                "`table_prefix` must itself be an identifier (lower-case letters, digits, `_`)"
                    .into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for c in &t.partition_by {
            if !is_ident(&c.to_ascii_lowercase()) || !seen.insert(c.to_ascii_lowercase()) {
                return Err(fail(
                    "target",
                    "partition_by",
                    format!(
                        "partition column `{}` is not a column name, or appears twice",
                        c.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        if let Some(s) = &self.run.schedule {
            Schedule::parse(s).map_err(|e| fail("run", "schedule", e.to_string()))?;
        }
        Ok(())
    }

    /// The parsed schedule, if any.
    pub fn schedule(&self) -> Option<Schedule> {
        self.run
            .schedule
            .as_deref()
            .and_then(|s| Schedule::parse(s).ok())
    }
}
